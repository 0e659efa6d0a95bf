import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { LabelSlot, LogRecordData, SpanRecord } from '../../pipeline/data.ts';
import type { DecoderRegistry } from '../../decoders/decoder.ts';
import type { FieldConfig, LogConfig, SpanConfig } from './file-schema.ts';
import {
  readRecordField,
  readU64,
  RecordLabels,
  slotText,
  type DecodeStats,
  type Sink,
} from './events-labels.ts';

// Spans and log records from event records, built through the bounded queue (see events.ts).

const RESERVED = new Set([
  'trace_id',
  'parent_span_id',
  'span_id',
  'span_monotonic_timestamp_ns',
  'span_duration_ns',
  'span_name',
]);

export class SpanSink implements Sink {
  private readonly def: SpanConfig;
  private readonly labels: RecordLabels;
  private readonly registry: DecoderRegistry;
  private readonly offsetNs: bigint;
  private readonly out: SpanRecord[];

  constructor(def: SpanConfig, registry: DecoderRegistry, offsetNs: bigint, out: SpanRecord[]) {
    this.def = def;
    this.labels = new RecordLabels(def.labels ?? []);
    this.registry = registry;
    this.offsetNs = offsetNs;
    this.out = out;
  }

  onRecord(record: Buffer, stats: DecodeStats): void {
    try {
      const slots = this.labels.decode(record, this.registry);
      if (!slots) return;
      this.out.push(this.toSpan(slots));
    } catch (err) {
      stats.errors++;
      stats.last = `span ${this.def.name ?? this.def.ringbuf}: ${(err as Error).message}`;
    }
  }

  private toSpan(slots: readonly LabelSlot[]): SpanRecord {
    const attributes: Record<string, string> = {};
    const reserved: Record<string, string> = {};
    for (const s of slots) {
      if (s.pending.length > 0)
        throw new Error(`label ${s.name}: decoder ${s.pending[0]?.name} is not available`);
      if (RESERVED.has(s.name)) reserved[s.name] = slotText(s);
      else attributes[s.name] = slotText(s);
    }
    const traceId = hexId(reserved['trace_id'], 32, 'trace_id');
    if (/^0+$/.test(traceId)) throw new Error('trace_id is zero');
    const parent =
      reserved['parent_span_id'] === undefined
        ? undefined
        : hexId(reserved['parent_span_id'], 16, 'parent_span_id');
    let spanId = hexId(reserved['span_id'], 16, 'span_id');
    if (/^0+$/.test(spanId)) spanId = randomBytes(8).toString('hex');
    const start = uintOf(reserved['span_monotonic_timestamp_ns'], 'span_monotonic_timestamp_ns');
    const duration = uintOf(reserved['span_duration_ns'], 'span_duration_ns');
    const name = reserved['span_name'] || this.def.name || this.def.ringbuf;
    const startTimeUnixNano = start + this.offsetNs;
    return {
      traceId,
      spanId,
      ...(parent !== undefined && !/^0+$/.test(parent) ? { parentSpanId: parent } : {}),
      name,
      startTimeUnixNano,
      endTimeUnixNano: startTimeUnixNano + duration,
      attributes,
    };
  }
}

function hexId(value: string | undefined, digits: number, what: string): string {
  if (value === undefined) throw new Error(`no ${what} label`);
  const v = value.toLowerCase();
  if (!/^[0-9a-f]+$/.test(v) || v.length !== digits)
    throw new Error(`${what} must be ${digits} hex digits (decode it with hex), got "${value}"`);
  return v;
}

function uintOf(value: string | undefined, what: string): bigint {
  if (value === undefined || !/^\d+$/.test(value))
    throw new Error(`${what} must decode to an unsigned integer (uint), got "${value ?? ''}"`);
  return BigInt(value);
}

const SEVERITY: Record<string, number> = { trace: 1, debug: 5, info: 9, warn: 13, error: 17, fatal: 21 };

export class LogSink implements Sink {
  private readonly def: LogConfig;
  private readonly labels: RecordLabels;
  private readonly registry: DecoderRegistry;
  private readonly offsetNs: bigint;
  private readonly out: LogRecordData[];
  private readonly timeField: FieldConfig | undefined;

  constructor(def: LogConfig, registry: DecoderRegistry, offsetNs: bigint, out: LogRecordData[]) {
    this.def = def;
    this.labels = new RecordLabels(def.labels ?? []);
    this.registry = registry;
    this.offsetNs = offsetNs;
    this.out = out;
    this.timeField = (def.fields ?? []).find((f) => f.name === def.time_field);
  }

  onRecord(record: Buffer, stats: DecodeStats): void {
    try {
      const slots = this.labels.decode(record, this.registry);
      if (!slots) return;
      const attributes: Record<string, string | number> = {};
      for (const s of slots) {
        if (s.pending.length > 0)
          throw new Error(`label ${s.name}: decoder ${s.pending[0]?.name} is not available`);
        attributes[s.name] = slotText(s);
      }
      for (const f of this.def.fields ?? []) {
        if (f === this.timeField) continue;
        attributes[f.name] = readRecordField(record, f);
      }
      const observed = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
      const time = this.timeField ? readU64(record, this.timeField) + this.offsetNs : observed;
      const severity = this.def.severity ?? 'info';
      this.out.push({
        timeUnixNano: time,
        observedTimeUnixNano: observed,
        severityNumber: SEVERITY[severity],
        severityText: severity.toUpperCase(),
        eventName: this.def.name,
        body: render(this.def.body ?? this.def.name, attributes),
        attributes,
      });
    } catch (err) {
      stats.errors++;
      stats.last = `log ${this.def.name}: ${(err as Error).message}`;
    }
  }
}

function render(template: string, values: Readonly<Record<string, string | number>>): string {
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_.]*)\}/g, (whole, name: string) =>
    name in values ? String(values[name]) : whole,
  );
}
