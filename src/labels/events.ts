import { filter, map, type OperatorFunction } from 'rxjs';
import type { LogBatch, LogRecordData, SpanBatch, SpanRecord } from '../pipeline/data.ts';
import { METRIC_NAME_LABEL } from './names.ts';

/**
 * The label processors (attributes, filter) over traces and logs: each span or log record
 * is shown to the same function as a metric point, as a mutable map of its attributes
 * plus `__name__` (the span name, or the log record's event name; "" when it has none).
 * `__name__` is read-only here: changes to it are ignored.
 *
 * - Return false to drop the record; a throwing function drops it too (counted in `errors`).
 * - Log attribute values may be numbers: the function sees their text; a value the
 *   function left as it was keeps its number type, a changed one becomes text.
 * - Kept attributes stay in their order; new ones follow in the order they were set.
 * - A batch whose records were all dropped is not emitted.
 */
export type RecordFn = (attributes: Map<string, string>) => boolean;

export interface RecordCounts {
  errors: number;
  lastError?: string;
}

/** Called once per batch that had errors. */
export type RecordErrorSink = (source: string, counts: RecordCounts) => void;

function run(
  fn: RecordFn,
  name: string,
  attributes: Readonly<Record<string, string | number>>,
  counts: RecordCounts,
): Map<string, string> | undefined {
  const labels = new Map<string, string>([[METRIC_NAME_LABEL, name]]);
  for (const [k, v] of Object.entries(attributes)) labels.set(k, String(v));
  try {
    if (!fn(labels)) return undefined;
  } catch (err) {
    counts.errors++;
    counts.lastError = err instanceof Error ? err.message : String(err);
    return undefined;
  }
  labels.delete(METRIC_NAME_LABEL);
  return labels;
}

export function mapSpan(span: SpanRecord, fn: RecordFn, counts: RecordCounts): SpanRecord | undefined {
  const labels = run(fn, span.name, span.attributes, counts);
  return labels && { ...span, attributes: Object.fromEntries(labels) };
}

export function mapLogRecord(
  record: LogRecordData,
  fn: RecordFn,
  counts: RecordCounts,
): LogRecordData | undefined {
  const labels = run(fn, record.eventName ?? '', record.attributes, counts);
  if (!labels) return undefined;
  const attributes: Record<string, string | number> = {};
  for (const [k, v] of labels) {
    const before = record.attributes[k];
    attributes[k] = typeof before === 'number' && String(before) === v ? before : v;
  }
  return { ...record, attributes };
}

export function spansThrough(fn: RecordFn, sink: RecordErrorSink): OperatorFunction<SpanBatch, SpanBatch> {
  return (input$) =>
    input$.pipe(
      map((batch): SpanBatch | undefined => {
        const counts: RecordCounts = { errors: 0 };
        const spans: SpanRecord[] = [];
        for (const s of batch.spans) {
          const out = mapSpan(s, fn, counts);
          if (out) spans.push(out);
        }
        if (counts.errors > 0) sink(batch.source, counts);
        return spans.length > 0 ? { ...batch, spans } : undefined;
      }),
      dropEmpty(),
    );
}

export function logsThrough(fn: RecordFn, sink: RecordErrorSink): OperatorFunction<LogBatch, LogBatch> {
  return (input$) =>
    input$.pipe(
      map((batch): LogBatch | undefined => {
        const counts: RecordCounts = { errors: 0 };
        const records: LogRecordData[] = [];
        for (const r of batch.records) {
          const out = mapLogRecord(r, fn, counts);
          if (out) records.push(out);
        }
        if (counts.errors > 0) sink(batch.source, counts);
        return records.length > 0 ? { ...batch, records } : undefined;
      }),
      dropEmpty(),
    );
}

function dropEmpty<T>(): OperatorFunction<T | undefined, T> {
  return filter((v): v is T => v !== undefined);
}
