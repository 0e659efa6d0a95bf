/**
 * A small protobuf wire-format reader for the OTLP trace and logs messages, written from
 * the field numbers of opentelemetry-proto (collector/trace/v1, collector/logs/v1,
 * trace/v1, logs/v1, common/v1, resource/v1). Tests decode what the exporter sent with it,
 * independently of the library that encoded it.
 *
 * Decoded form: field names in camelCase; `bytes` as lowercase hex; fixed64 and int64 as
 * decimal strings (exact); a field absent on the wire is absent in the object; repeated
 * fields are arrays (present only when non-empty). Field numbers the schema does not know
 * are listed in `_unknown`, so a test can see them.
 */

type Scalar = 'string' | 'bytes' | 'varint' | 'int64' | 'bool' | 'fixed64' | 'fixed32' | 'double';
interface Field {
  readonly name: string;
  readonly type: Scalar | Schema;
  readonly repeated?: boolean;
}
export interface Schema {
  readonly [no: number]: Field;
}

const f = (name: string, type: Scalar | Schema, repeated = false): Field => ({ name, type, repeated });

const anyValue: Record<number, Field> = {};
const keyValue: Schema = { 1: f('key', 'string'), 2: f('value', anyValue) };
Object.assign(anyValue, {
  1: f('stringValue', 'string'),
  2: f('boolValue', 'bool'),
  3: f('intValue', 'int64'),
  4: f('doubleValue', 'double'),
  5: f('arrayValue', { 1: f('values', anyValue, true) }),
  6: f('kvlistValue', { 1: f('values', keyValue, true) }),
  7: f('bytesValue', 'bytes'),
});
const resource: Schema = { 1: f('attributes', keyValue, true), 2: f('droppedAttributesCount', 'varint') };
const scope: Schema = {
  1: f('name', 'string'),
  2: f('version', 'string'),
  3: f('attributes', keyValue, true),
  4: f('droppedAttributesCount', 'varint'),
};
const span: Schema = {
  1: f('traceId', 'bytes'),
  2: f('spanId', 'bytes'),
  3: f('traceState', 'string'),
  4: f('parentSpanId', 'bytes'),
  5: f('name', 'string'),
  6: f('kind', 'varint'),
  7: f('startTimeUnixNano', 'fixed64'),
  8: f('endTimeUnixNano', 'fixed64'),
  9: f('attributes', keyValue, true),
  10: f('droppedAttributesCount', 'varint'),
  11: f('events', { 1: f('timeUnixNano', 'fixed64'), 2: f('name', 'string') }, true),
  12: f('droppedEventsCount', 'varint'),
  13: f('links', { 1: f('traceId', 'bytes'), 2: f('spanId', 'bytes') }, true),
  14: f('droppedLinksCount', 'varint'),
  15: f('status', { 2: f('message', 'string'), 3: f('code', 'varint') }),
  16: f('flags', 'fixed32'),
};
const logRecord: Schema = {
  1: f('timeUnixNano', 'fixed64'),
  2: f('severityNumber', 'varint'),
  3: f('severityText', 'string'),
  5: f('body', anyValue),
  6: f('attributes', keyValue, true),
  7: f('droppedAttributesCount', 'varint'),
  8: f('flags', 'fixed32'),
  9: f('traceId', 'bytes'),
  10: f('spanId', 'bytes'),
  11: f('observedTimeUnixNano', 'fixed64'),
  12: f('eventName', 'string'),
};

export const TRACE_REQUEST: Schema = {
  1: f(
    'resourceSpans',
    {
      1: f('resource', resource),
      2: f(
        'scopeSpans',
        { 1: f('scope', scope), 2: f('spans', span, true), 3: f('schemaUrl', 'string') },
        true,
      ),
      3: f('schemaUrl', 'string'),
    },
    true,
  ),
};

export const LOGS_REQUEST: Schema = {
  1: f(
    'resourceLogs',
    {
      1: f('resource', resource),
      2: f(
        'scopeLogs',
        { 1: f('scope', scope), 2: f('logRecords', logRecord, true), 3: f('schemaUrl', 'string') },
        true,
      ),
      3: f('schemaUrl', 'string'),
    },
    true,
  ),
};

class Reader {
  pos = 0;
  readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error('varint too long');
    }
  }
  bytes(n: number): Uint8Array {
    if (this.pos + n > this.buf.length) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

export function decode(buf: Uint8Array, schema: Schema): Record<string, unknown> {
  const r = new Reader(buf);
  const out: Record<string, unknown> = {};
  while (r.pos < buf.length) {
    const tag = Number(r.varint());
    const no = tag >>> 3;
    const wire = tag & 7;
    let raw: bigint | Uint8Array;
    if (wire === 0) raw = r.varint();
    else if (wire === 1) raw = r.bytes(8);
    else if (wire === 2) raw = r.bytes(Number(r.varint()));
    else if (wire === 5) raw = r.bytes(4);
    else throw new Error(`field ${no}: unsupported wire type ${wire}`);
    const field = schema[no];
    if (!field) {
      ((out['_unknown'] ??= []) as number[]).push(no);
      continue;
    }
    const value = convert(field, wire, raw);
    if (field.repeated) ((out[field.name] ??= []) as unknown[]).push(value);
    else out[field.name] = value;
  }
  return out;
}

function convert(field: Field, wire: number, raw: bigint | Uint8Array): unknown {
  const t = field.type;
  const expect = (w: number): void => {
    if (wire !== w) throw new Error(`field ${field.name}: wire type ${wire}, expected ${w}`);
  };
  if (typeof t !== 'string') {
    expect(2);
    return decode(raw as Uint8Array, t);
  }
  const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
  switch (t) {
    case 'string':
      expect(2);
      return new TextDecoder('utf-8', { fatal: true }).decode(raw as Uint8Array);
    case 'bytes':
      expect(2);
      return Buffer.from(raw as Uint8Array).toString('hex');
    case 'varint':
      expect(0);
      return Number(raw);
    case 'int64':
      expect(0);
      return BigInt.asIntN(64, raw as bigint).toString();
    case 'bool':
      expect(0);
      return (raw as bigint) !== 0n;
    case 'fixed64':
      expect(1);
      return view(raw as Uint8Array)
        .getBigUint64(0, true)
        .toString();
    case 'fixed32':
      expect(5);
      return view(raw as Uint8Array).getUint32(0, true);
    case 'double':
      expect(1);
      return view(raw as Uint8Array).getFloat64(0, true);
  }
}

/** An Export*ServiceResponse with a partial_success of `rejected` records (field 1 of both). */
export function partialSuccessResponse(rejected: number, message: string): Buffer {
  const msg = Buffer.from(message, 'utf8');
  const inner = Buffer.concat([
    Buffer.from([0x08]),
    varint(BigInt(rejected)),
    Buffer.from([0x12]),
    varint(BigInt(msg.length)),
    msg,
  ]);
  return Buffer.concat([Buffer.from([0x0a]), varint(BigInt(inner.length)), inner]);
}

/**
 * A serialized google.rpc.Status with one detail, a google.rpc.RetryInfo asking for `ms`
 * (what an overloaded gRPC server sends in the `grpc-status-details-bin` trailer).
 */
export function statusWithRetryInfo(code: number, message: string, ms: number): Buffer {
  const field = (no: number, body: Buffer): Buffer =>
    Buffer.concat([varint(BigInt(no * 8 + 2)), varint(BigInt(body.length)), body]);
  const duration = Buffer.concat([
    Buffer.from([0x08]),
    varint(BigInt(Math.floor(ms / 1000))),
    Buffer.from([0x10]),
    varint(BigInt((ms % 1000) * 1_000_000)),
  ]);
  const any = Buffer.concat([
    field(1, Buffer.from('type.googleapis.com/google.rpc.RetryInfo')),
    field(2, field(1, duration)),
  ]);
  return Buffer.concat([
    Buffer.from([0x08]),
    varint(BigInt(code)),
    field(2, Buffer.from(message, 'utf8')),
    field(3, any),
  ]);
}

function varint(v: bigint): Buffer {
  const out: number[] = [];
  let x = v;
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x > 0n) b |= 0x80;
    out.push(b);
  } while (x > 0n);
  return Buffer.from(out);
}

// Decoded shapes, for typed access in tests.
export interface WireAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string;
  doubleValue?: number;
  bytesValue?: string;
}
export interface WireKeyValue {
  key: string;
  value?: WireAnyValue;
}
export interface WireResource {
  attributes?: WireKeyValue[];
}
export interface WireSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: WireKeyValue[];
  status?: { code?: number; message?: string };
  flags?: number;
  _unknown?: number[];
}
export interface WireLogRecord {
  timeUnixNano: string;
  observedTimeUnixNano: string;
  severityNumber?: number;
  severityText?: string;
  body?: WireAnyValue;
  attributes?: WireKeyValue[];
  eventName?: string;
  traceId?: string;
  spanId?: string;
  _unknown?: number[];
}
export interface WireTraceRequest {
  resourceSpans?: {
    resource?: WireResource;
    scopeSpans?: { scope?: { name?: string; version?: string }; spans?: WireSpan[] }[];
  }[];
}
export interface WireLogsRequest {
  resourceLogs?: {
    resource?: WireResource;
    scopeLogs?: { scope?: { name?: string; version?: string }; logRecords?: WireLogRecord[] }[];
  }[];
}
