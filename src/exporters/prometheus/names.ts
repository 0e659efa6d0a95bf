import type { HistogramPoint, Labels, MetricFamily, ScalarPoint } from '../../pipeline/data.ts';
import { pointCount, scalarColumnsFamily, type ScalarColumns } from '../../pipeline/series.ts';

/**
 * Prometheus names, made once and up front, before serialization.
 *
 * - Metric names: the namespace prefix (`<namespace>_`, except for standard process
 *   metrics), every character outside `[a-zA-Z0-9_]` becomes `_` (`:` too: colons are for
 *   recording rules), runs of `_` collapse to one, a leading digit gets a `_` in front,
 *   and a counter gets `_total` unless it has it (or is `asNamed`). This is what @opentelemetry's
 *   PrometheusSerializer does, so the names pass through it unchanged (it is given no
 *   prefix); doing it here lets us see collisions on the final names.
 * - Label names: the same replacement and collapse, and a leading digit gets `_`.
 *
 * What cannot be exposed is dropped, counted and reported (`Problem`), never written twice:
 * - a metric whose final name (or, for a histogram, `_bucket`/`_count`/`_sum` series) is
 *   already taken by a different metric (the earlier one is kept);
 * - a metric with two labels that sanitize to the same name, or a histogram with a label `le`;
 * - a metric whose name sanitizes to nothing.
 * The same metric from two sources (same name and kind) is one family; a series (label set)
 * that is already in it is dropped as a duplicate.
 */
export const PROBLEM_REASONS = [
  'name_collision',
  'label_collision',
  'reserved_label',
  'invalid_name',
  'duplicate_series',
] as const;
export type ProblemReason = (typeof PROBLEM_REASONS)[number];

export interface Problem {
  readonly reason: ProblemReason;
  /** Names the metric(s) involved, as defined and as exposed. */
  readonly message: string;
  /** Series dropped (all of the metric's, or one). */
  readonly series: number;
}

export function metricName(
  name: string,
  prefix: string,
  kind: MetricFamily['kind'],
  asNamed = false,
): string {
  let byName = metricNames.get(prefix);
  if (byName === undefined) {
    if (metricNames.size >= MAX_MEMO) metricNames.clear();
    metricNames.set(prefix, (byName = new Map<string, readonly [string, string]>()));
  }
  let made = byName.get(name);
  if (made === undefined) {
    if (byName.size >= MAX_MEMO) byName.clear();
    let n = (prefix ? `${prefix}_${name}` : name).replace(/[^a-zA-Z0-9_]/g, '_').replace(/_{2,}/g, '_');
    if (/^[0-9]/.test(n)) n = `_${n}`;
    if (n === '' || n === '_') made = ['', ''];
    else made = [n, n.endsWith('_total') ? n : `${n}_total`];
    byName.set(name, made);
  }
  return made[kind === 'counter' && !asNamed ? 1 : 0];
}

/**
 * metricName's results by prefix and name: as named, and as a counter's (`_total`). Names come
 * from configuration and the self-metrics, and are made again for every family of every
 * scrape; the bound only keeps changing names from growing it forever.
 */
const metricNames = new Map<string, Map<string, readonly [string, string]>>();
const labelNames = new Map<string, string>();
const MAX_MEMO = 10_000;

function asNamed(f: MetricFamily): boolean {
  return f.kind === 'counter' && f.asNamed === true;
}

export function labelName(name: string): string {
  let n = labelNames.get(name);
  if (n === undefined) {
    n = name.replace(/[^a-zA-Z0-9_]/g, '_').replace(/_{2,}/g, '_');
    if (/^[0-9]/.test(n)) n = `_${n}`;
    if (labelNames.size >= MAX_MEMO) labelNames.clear();
    labelNames.set(name, n);
  }
  return n;
}

/** The series names a family writes. */
function seriesNames(name: string, kind: MetricFamily['kind']): string[] {
  return kind === 'histogram' ? [name, `${name}_bucket`, `${name}_count`, `${name}_sum`] : [name];
}

interface Claimed {
  /** The family as first defined (original name). */
  readonly original: string;
  readonly kind: MetricFamily['kind'];
  /** Its final name. */
  readonly name: string;
}

interface Building {
  readonly family: MetricFamily;
  readonly points: (ScalarPoint | HistogramPoint)[];
  /** Keys of `points`' label sets; made when a second source merges into the family. */
  seen: Set<string> | undefined;
  /**
   * A series table passed on as it is (series.ts): the family's only source so far, whose
   * label names are exposed as they are. Turned into `points` if another source merges in.
   */
  columns: ScalarColumns | undefined;
}

export interface FamilyOptions {
  /**
   * Each input family's own label sets are distinct (true of `assemble`'s output and the
   * self-metrics): only series merged in from another source are checked for duplicates.
   * Leave false for input that may repeat a label set (e.g. after resource labels).
   */
  readonly distinctWithinFamily?: boolean;
}

/** Families with exposition names and labels; problems reported through `report`. */
export function prometheusFamilies(
  families: readonly MetricFamily[],
  namespace: string,
  report: (p: Problem) => void,
  options: FamilyOptions = {},
): MetricFamily[] {
  const claimed = new Map<string, Claimed>(); // series name → the family that writes it
  const out = new Map<string, Building>(); // final name → family being built
  // Indexed loops: this runs a few times per scrape, mostly before V8 optimizes it, and an
  // unoptimized for-of makes an iterator result per element.
  for (let i = 0; i < families.length; i++) {
    const f = families[i] as MetricFamily;
    const name = metricName(f.name, f.unprefixed ? '' : namespace, f.kind, asNamed(f));
    if (name === '') {
      report({
        reason: 'invalid_name',
        message: `metric "${f.name}" has no valid Prometheus name (nothing is left after replacing invalid characters)`,
        series: pointCount(f),
      });
      continue;
    }
    const owner = claimed.get(name);
    if (owner && owner.original === f.name && owner.kind === f.kind) {
      const into = out.get(name) as Building;
      if (into.columns !== undefined) {
        const c = into.columns;
        into.columns = undefined;
        for (let i = 0; i < c.rows.length; i++)
          into.points.push({ labels: c.rows[i] as Labels, value: c.values[i] as number });
      }
      merge(into, f, name, report);
      continue;
    }
    const clash =
      f.kind === 'histogram'
        ? seriesNames(name, f.kind)
            .map((s) => claimed.get(s))
            .find((c) => c !== undefined)
        : claimed.get(name);
    if (clash) {
      report({
        reason: 'name_collision',
        message: `metric "${f.name}" (${f.kind}) is exposed as ${name}, which collides with metric "${clash.original}" (${clash.kind}, exposed as ${clash.name}); "${f.name}" is dropped`,
        series: pointCount(f),
      });
      continue;
    }
    const labels = labelMapping(f, name, report);
    if (!labels) continue;
    const family = renamed(f, name);
    const building: Building = {
      family,
      points: [],
      seen: options.distinctWithinFamily ? undefined : new Set(),
      columns: undefined,
    };
    const claim: Claimed = { original: f.name, kind: f.kind, name };
    if (f.kind === 'histogram') for (const s of seriesNames(name, f.kind)) claimed.set(s, claim);
    else claimed.set(name, claim);
    out.set(name, building);
    if (
      f.kind !== 'histogram' &&
      f.columns !== undefined &&
      building.seen === undefined &&
      isIdentity(labels)
    )
      building.columns = f.columns;
    else merge(building, f, name, report, labels);
  }
  return [...out.values()].map((b) => {
    if (b.columns !== undefined && b.family.kind !== 'histogram') {
      const { points: _points, columns: _columns, ...fields } = b.family;
      return scalarColumnsFamily(fields, b.columns);
    }
    return { ...b.family, points: b.points } as MetricFamily;
  });
}

function isIdentity(mapping: ReadonlyMap<string, string>): boolean {
  if (mapping === IDENTITY) return true;
  for (const [k, v] of mapping) if (k !== v) return false;
  return true;
}

/** The family's fields under its new name, without points (a spread would make a table's points). */
function renamed(f: MetricFamily, name: string): MetricFamily {
  const out: Record<string, unknown> = {};
  const keys = Object.keys(f);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    if (k !== 'points') out[k] = (f as unknown as Record<string, unknown>)[k];
  }
  out['name'] = name;
  out['points'] = [];
  return out as unknown as MetricFamily;
}

/** Original → exposed label names of a family, or undefined (reported) when they cannot be exposed. */
function labelMapping(
  f: MetricFamily,
  name: string,
  report: (p: Problem) => void,
): ReadonlyMap<string, string> | undefined {
  const rows = f.kind !== 'histogram' ? f.columns?.rows : undefined;
  const known = rows !== undefined ? mappings.get(rows) : undefined;
  if (known !== undefined) return known;
  if (exposedAsNamed(f, rows)) {
    if (rows !== undefined) mappings.set(rows, IDENTITY);
    return IDENTITY;
  }
  const mapping = new Map<string, string>();
  const byExposed = new Map<string, string>();
  const count = pointCount(f);
  const clean = eachLabels(f, rows, (labels) => {
    for (const original in labels) {
      if (mapping.has(original)) continue;
      const exposed = labelName(original);
      const other = byExposed.get(exposed);
      if (other !== undefined) {
        report({
          reason: 'label_collision',
          message: `metric "${f.name}" (exposed as ${name}): labels "${other}" and "${original}" are both exposed as ${exposed}; the metric is dropped`,
          series: count,
        });
        return false;
      }
      if (f.kind === 'histogram' && exposed === 'le') {
        report({
          reason: 'reserved_label',
          message: `histogram "${f.name}" (exposed as ${name}) has a label "${original}", exposed as le, which Prometheus reserves for bucket bounds; the metric is dropped`,
          series: count,
        });
        return false;
      }
      mapping.set(original, exposed);
      byExposed.set(exposed, original);
    }
    return true;
  });
  if (!clean) return undefined;
  if (rows !== undefined) mappings.set(rows, mapping);
  return mapping;
}

/**
 * The mapping of a family whose every label is exposed under its own name (the usual case):
 * distinct names stay distinct, so no collision is possible, and nothing needs a Map per scrape.
 */
const IDENTITY: ReadonlyMap<string, string> = new Map();

/** Whether every label name of the family is exposed as it is (and a histogram has no `le`). */
function exposedAsNamed(f: MetricFamily, rows: readonly Labels[] | undefined): boolean {
  return eachLabels(f, rows, (labels) => {
    for (const original in labels) {
      if (labelName(original) !== original) return false;
      if (f.kind === 'histogram' && original === 'le') return false;
    }
    return true;
  });
}

/**
 * `visit` each labels object of the family's series (its table's rows, or its points), in
 * order, until it returns false; false then. Points of a family usually share their labels
 * objects: the same object twice in a row is visited once.
 */
function eachLabels(
  f: MetricFamily,
  rows: readonly Labels[] | undefined,
  visit: (labels: Labels) => boolean,
): boolean {
  let previous: Labels | undefined;
  const count = pointCount(f);
  for (let i = 0; i < count; i++) {
    const labels =
      rows !== undefined ? (rows[i] as Labels) : (f.points[i] as ScalarPoint | HistogramPoint).labels;
    if (labels === previous) continue;
    previous = labels;
    if (!visit(labels)) return false;
  }
  return true;
}

/** The label mapping of a series table's rows (only a mapping without problems is kept). */
const mappings = new WeakMap<readonly Labels[], ReadonlyMap<string, string>>();

function merge(
  into: Building,
  f: MetricFamily,
  name: string,
  report: (p: Problem) => void,
  labels?: ReadonlyMap<string, string>,
): void {
  const mapping = labels ?? labelMapping(f, name, report);
  if (!mapping) return;
  // Labels whose exposed names are their own need no new object (the common case).
  const identity = isIdentity(mapping);
  // The first source of a family whose label sets are known distinct needs no check.
  if (into.seen === undefined && into.points.length > 0)
    into.seen = new Set(into.points.map((p) => seriesKey(p.labels)));
  const seen = into.seen;
  let duplicates = 0;
  const points = f.points as readonly (ScalarPoint | HistogramPoint)[];
  for (let i = 0; i < points.length; i++) {
    const p = points[i] as ScalarPoint | HistogramPoint;
    let labels = p.labels;
    if (!identity) {
      const exposed: Record<string, string> = {};
      for (const [k, v] of Object.entries(p.labels)) exposed[mapping.get(k) ?? k] = v;
      labels = exposed;
    }
    if (seen !== undefined) {
      const key = seriesKey(labels);
      if (seen.has(key)) {
        duplicates++;
        continue;
      }
      seen.add(key);
    }
    into.points.push(labels === p.labels ? p : { ...p, labels });
  }
  if (duplicates > 0) {
    report({
      reason: 'duplicate_series',
      message: `metric "${f.name}" (exposed as ${name}) came from more than one source with the same labels; the later series are dropped`,
      series: duplicates,
    });
  }
}

/**
 * One string per label set, whatever the order of its keys. Built in key order when the
 * keys come sorted (one pass, no array: the usual case), sorted first otherwise.
 */
function seriesKey(labels: Labels): string {
  let key = '';
  let prev: string | undefined;
  for (const k in labels) {
    if (prev !== undefined && !(prev < k)) return sortedSeriesKey(labels);
    key += `${prev === undefined ? '' : '\u0000'}${k}\u0001${labels[k] as string}`;
    prev = k;
  }
  return key;
}

function sortedSeriesKey(labels: Labels): string {
  return Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}\u0001${v}`)
    .join('\u0000');
}
