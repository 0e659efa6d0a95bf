/**
 * What an object's event streams are defined by, and the checks of those definitions against the
 * object's maps (ring sizes, record layouts): pure, before anything is opened (events.ts streams them).
 */
import type { MapInfo } from '../../native/index.ts';
import type { EbpfReceiverConfig } from './config.ts';
import type { LogConfig, SpanConfig } from './file-schema.ts';
import { LIMITS, type MetricsConfig } from './metrics.ts';

export type EventsConfig = EbpfReceiverConfig['events'];

export interface EventDefinitions {
  readonly metrics: MetricsConfig;
  readonly spans: readonly SpanConfig[];
  readonly logs: readonly LogConfig[];
}

/** Maps the definitions read as event streams, and the problems binding them to the object. */
export function eventMapsOf(defs: EventDefinitions, hook?: string): string[] {
  const maps = new Set<string>();
  const inSet = (hooks: readonly string[] | undefined): boolean =>
    hook === undefined || hooks === undefined || hooks.includes(hook);
  for (const c of defs.metrics.counters ?? []) {
    if (!inSet(c.hooks)) continue;
    if (c.perf_event_array) maps.add(c.name);
    else if (c.events !== undefined) maps.add(c.events);
  }
  for (const h of defs.metrics.histograms ?? [])
    if (h.events !== undefined && inSet(h.hooks)) maps.add(h.events);
  for (const s of defs.spans) maps.add(s.ringbuf);
  for (const l of defs.logs) maps.add(l.map);
  return [...maps];
}

/**
 * A ring buffer the definitions drain that is larger than LIMITS.ringBytes (the agent maps it:
 * up to all of it resident). Checked on the opened object, before load; one line each.
 */
export function checkRingSizes(defs: EventDefinitions, maps: ReadonlyMap<string, MapInfo>): string[] {
  return eventMapsOf(defs).flatMap((name) => {
    const info = maps.get(name);
    if (info?.type !== 'ringbuf' || info.maxEntries <= LIMITS.ringBytes) return [];
    return [
      `ring buffer ${name}: max_entries ${info.maxEntries} bytes; a ring the agent drains may have at most ${LIMITS.ringBytes} (256 MiB)`,
    ];
  });
}

/** One line per definition that does not fit the object's maps. */
export function checkEventLayout(
  defs: EventDefinitions,
  maps: ReadonlyMap<string, MapInfo>,
  hook?: string,
): string[] {
  const problems: string[] = [];
  const needType = (what: string, map: string, types: readonly string[]): void => {
    const info = maps.get(map);
    if (!info) problems.push(`${what}: the object has no map named "${map}"`);
    else if (!types.includes(info.type))
      problems.push(`${what}: map ${map} is a ${info.type}, expected ${types.join(' or ')}`);
  };
  const inSet = (hooks: readonly string[] | undefined): boolean =>
    hook === undefined || hooks === undefined || hooks.includes(hook);
  for (const c of defs.metrics.counters ?? []) {
    if (!inSet(c.hooks)) continue;
    if (c.perf_event_array) needType(`metric ${c.name}`, c.name, ['perf_event_array']);
    else if (c.events !== undefined) needType(`metric ${c.name}`, c.events, ['ringbuf', 'perf_event_array']);
  }
  for (const h of defs.metrics.histograms ?? [])
    if (h.events !== undefined && inSet(h.hooks))
      needType(`metric ${h.name}`, h.events, ['ringbuf', 'perf_event_array']);
  for (const s of defs.spans) {
    needType(`span ${s.name ?? s.ringbuf}`, s.ringbuf, ['ringbuf']);
    const names = new Set((s.labels ?? []).map((l) => l.name));
    for (const r of ['trace_id', 'span_id', 'span_monotonic_timestamp_ns', 'span_duration_ns'])
      if (!names.has(r)) problems.push(`span ${s.name ?? s.ringbuf}: needs a ${r} label`);
  }
  for (const l of defs.logs) {
    needType(`log ${l.name}`, l.map, ['ringbuf', 'perf_event_array']);
    if (l.time_field !== undefined && !(l.fields ?? []).some((f) => f.name === l.time_field))
      problems.push(`log ${l.name}: time_field ${l.time_field} is not one of its fields`);
  }
  return problems;
}

// ---------------------------------------------------------------------------
// The streams of one object.
