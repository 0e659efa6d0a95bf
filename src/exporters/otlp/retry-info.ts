/**
 * gRPC's rich error details, read for one fact: the wait a server asks for. An OTLP/gRPC
 * receiver that is overloaded answers UNAVAILABLE or RESOURCE_EXHAUSTED with a
 * `google.rpc.RetryInfo` in the status details (trailer `grpc-status-details-bin`, a
 * serialized `google.rpc.Status`); the OTLP specification says the client should wait
 * `retry_delay` before the next attempt. @grpc/grpc-js hands the trailer over as bytes
 * and does not read it, so this does, from the field numbers of
 * google/rpc/status.proto, error_details.proto, protobuf/any.proto and duration.proto:
 *
 *   Status    { int32 code = 1; string message = 2; repeated Any details = 3; }
 *   Any       { string type_url = 1; bytes value = 2; }
 *   RetryInfo { Duration retry_delay = 1; }
 *   Duration  { int64 seconds = 1; int32 nanos = 2; }
 */

export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

/** The fields of one message: number → values in order (varints as numbers, length-delimited as bytes). */
function fields(buf: Uint8Array): Map<number, (number | Uint8Array)[]> {
  const out = new Map<number, (number | Uint8Array)[]>();
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const b = buf[pos++] as number;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
    throw new Error('varint too long');
  };
  while (pos < buf.length) {
    const key = varint();
    const no = Math.floor(key / 8);
    const wire = key % 8;
    let value: number | Uint8Array;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const len = varint();
      if (pos + len > buf.length) throw new Error('truncated field');
      value = buf.subarray(pos, pos + len);
      pos += len;
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
      if (pos > buf.length) throw new Error('truncated field');
      continue;
    } else throw new Error(`wire type ${wire} not expected`);
    const list = out.get(no) ?? [];
    list.push(value);
    out.set(no, list);
  }
  return out;
}

const bytesOf = (v: number | Uint8Array | undefined): Uint8Array | undefined =>
  v instanceof Uint8Array ? v : undefined;

/**
 * The `retry_delay` of the RetryInfo in a serialized google.rpc.Status, in milliseconds;
 * undefined when there is none or the bytes cannot be read (a malformed trailer is ignored:
 * the backoff applies).
 */
export function retryDelayMs(statusDetails: Uint8Array): number | undefined {
  try {
    for (const any of fields(statusDetails).get(3) ?? []) {
      const a = bytesOf(any);
      if (!a) continue;
      const f = fields(a);
      const type = bytesOf(f.get(1)?.[0]);
      if (!type || Buffer.from(type).toString('utf8') !== RETRY_INFO_TYPE) continue;
      const duration = bytesOf(fields(bytesOf(f.get(2)?.[0]) ?? new Uint8Array()).get(1)?.[0]);
      if (!duration) return 0; // RetryInfo without a delay: retry at the backoff's pace, at once
      const d = fields(duration);
      const seconds = Number(d.get(1)?.[0] ?? 0);
      const nanos = Number(d.get(2)?.[0] ?? 0);
      // A negative int64 is a 10-byte varint beyond 2^63: no wait.
      if (seconds >= 2 ** 63 || nanos >= 2 ** 31) return 0;
      return Math.round(seconds * 1000 + nanos / 1e6);
    }
  } catch {
    return undefined;
  }
  return undefined;
}
