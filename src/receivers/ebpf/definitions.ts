import type { MapInfo } from '../../native/index.ts';
import type { HistogramSpec, MetricKind } from '../../pipeline/data.ts';
import { LIMITS, type KeyConfig, type LabelConfig, type MetricsConfig, type ValueConfig } from './metrics.ts';

/*
 * Metric definitions of a metrics block (map-read counters, gauges and histograms) and the
 * checks that bind each to its map; reader.ts reads them.
 */

/**
 * One metric definition bound to its map, ready to read. Reading turns each
 * entry into a RawPoint: the key is cut into label slots by `size`/`padding`,
 * decoders this receiver has run at once, the rest stay pending for
 * processors. Per-CPU values are summed unless a label is named `cpu`.
 */
export interface MetricDefinition {
  readonly name: string;
  readonly help: string;
  readonly kind: MetricKind;
  /** The map it reads: `map:`, or the metric's own name (ebpf_exporter). */
  readonly map: string;
  readonly labels: readonly LabelConfig[];
  /** Where the number is in a struct value; undefined: the whole value is one u64. */
  readonly value?: ValueConfig | undefined;
  /** Where the label bytes are in the value (a map of key/count slots); undefined: the map key. */
  readonly key?: KeyConfig | undefined;
  readonly histogram?: HistogramSpec;
  /** Hook sets that fill it (`hooks:`); undefined: every set. */
  readonly hooks?: readonly string[] | undefined;
}

/**
 * The map-read metrics of a definitions block. With `hook` (the set attached,
 * '' for an object without sets), metrics restricted by `hooks:` to other sets
 * are left out.
 */
export function definitionsOf(metrics: MetricsConfig, hook?: string): MetricDefinition[] {
  const defs: MetricDefinition[] = [];
  for (const c of metrics.counters ?? []) {
    if (c.perf_event_array || c.events !== undefined) continue; // event streams: events.ts
    defs.push({
      name: c.name,
      help: c.help,
      kind: 'counter',
      map: c.map ?? c.name,
      labels: c.labels ?? [],
      value: c.value,
      key: c.key,
      hooks: c.hooks,
    });
  }
  for (const g of metrics.gauges ?? [])
    defs.push({
      name: g.name,
      help: g.help,
      kind: 'gauge',
      map: g.map ?? g.name,
      labels: g.labels ?? [],
      value: g.value,
      key: g.key,
      hooks: g.hooks,
    });
  for (const h of metrics.histograms ?? []) {
    if (h.events !== undefined || h.labels === undefined) continue; // event streams: events.ts
    defs.push({
      name: h.name,
      help: h.help,
      kind: 'histogram',
      map: h.map ?? h.name,
      labels: h.labels,
      hooks: h.hooks,
      histogram: {
        bucketType: h.bucket_type,
        bucketMin: h.bucket_min ?? 0,
        bucketMax: h.bucket_max ?? 0,
        bucketMultiplier: h.bucket_multiplier ?? 1,
        bucketKeys: h.bucket_keys ?? [],
      },
    });
  }
  return hook === undefined ? defs : defs.filter((d) => d.hooks === undefined || d.hooks.includes(hook));
}

/**
 * A map too large to read at every collection: more series than LIMITS.mapEntries (max_entries,
 * times the CPUs for a per-CPU map with a `cpu` label). Checked on the opened object, before
 * load (loader.ts checkMaps). Empty when it fits or is missing.
 */
export function checkMapSize(def: MetricDefinition, info: MapInfo | undefined): string[] {
  if (!info) return [];
  const cpus = info.perCpu && def.labels.some((l) => l.name === 'cpu') ? info.numCpus : 1;
  if (info.maxEntries * cpus <= LIMITS.mapEntries) return [];
  const size = cpus > 1 ? `${info.maxEntries} × ${cpus} CPUs` : String(info.maxEntries);
  return [
    `metric ${def.name}: map "${info.name}" has max_entries ${size}; a map a metric reads may hold at most ${LIMITS.mapEntries} series (every entry is read at every collection)`,
  ];
}

/** Problems binding a definition to its map (one line each); empty when it fits. */
export function checkLayout(def: MetricDefinition, info: MapInfo | undefined): string[] {
  if (!info)
    return [
      def.map === def.name
        ? `metric ${def.name}: the object has no map named "${def.name}" (a metric reads the map of its name unless it sets map:)`
        : `metric ${def.name}: the object has no map named "${def.map}" (its map:)`,
    ];
  const problems: string[] = [];
  const keyLabels = keyLabelsOf(def, info);
  const want = keyLabels.reduce((n, l) => n + l.size + (l.padding ?? 0), 0);
  if (def.key) {
    const end = def.key.offset + def.key.size;
    if (want !== def.key.size)
      problems.push(
        `metric ${def.name}: label sizes and padding add up to ${want} bytes, but key: { size } is ${def.key.size}`,
      );
    if (end > info.valueSize)
      problems.push(
        `metric ${def.name}: key offset ${def.key.offset} + size ${def.key.size} = ${end} is past the end of the map value (${info.valueSize} bytes)`,
      );
    if (info.perCpu)
      problems.push(
        `metric ${def.name}: key: in the value needs a map that is not per-CPU ("${info.name}" is ${info.type}: each CPU's value would hold its own key)`,
      );
  } else if (keyLabels.length === 0) {
    if (info.keySize !== 4)
      problems.push(
        `metric ${def.name}: no labels, so map key must be u32 (4 bytes), but it is ${info.keySize} bytes`,
      );
  } else if (want !== info.keySize) {
    problems.push(
      `metric ${def.name}: label sizes and padding add up to ${want} bytes, but the map key is ${info.keySize} bytes`,
    );
  }
  if (def.value) {
    const end = def.value.offset + def.value.size;
    if (end > info.valueSize)
      problems.push(
        `metric ${def.name}: value offset ${def.value.offset} + size ${def.value.size} = ${end} is past the end of the map value (${info.valueSize} bytes)`,
      );
  } else if (info.valueSize !== 8) {
    problems.push(
      `metric ${def.name}: map value must be 8 bytes (u64), but it is ${info.valueSize}; for a struct value give value: { offset, size }`,
    );
  }
  return problems;
}

/**
 * Labels that come from the key. On a per-CPU map a label named `cpu` comes
 * from the CPU index instead — except for ebpf_exporter's own layout, where
 * `cpu` is the last key label (size 2, appended by the exporter); we accept
 * both: a `cpu` label is never read from the key bytes. On any other map `cpu`
 * is an ordinary key label, as ebpf_exporter treats it (llcstat: a hash keyed
 * by the u32 CPU number).
 */
export function keyLabelsOf(def: MetricDefinition, info: MapInfo): LabelConfig[] {
  return def.labels.filter((l) => !(info.perCpu && l.name === 'cpu'));
}

/** `hooks:` on a metric must name sets the object declares (a typo would hide the metric). */
export function unknownHookSets(defs: readonly MetricDefinition[], sets: readonly string[]): string[] {
  return defs.flatMap((d) =>
    (d.hooks ?? [])
      .filter((h) => !sets.includes(h))
      .map(
        (h) =>
          `metric ${d.name}: hooks names set ${h}, but the object declares ${sets.length > 0 ? sets.join(', ') : 'no hook sets (no HOOK_FALLBACK())'}`,
      ),
  );
}
