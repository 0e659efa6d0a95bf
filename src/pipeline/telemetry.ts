import type { Labels, MetricFamily, ScalarPoint } from './data.ts';
import { exportedAt, levelOf, type SelfMetricLevel, type TelemetryLevel } from './telemetry-levels.ts';

/**
 * The agent's own metrics (decoder errors, programs attached, …). Components
 * register families once and update them; exporters read `snapshot()` beside
 * the pipeline data. Names are given without the exporter's prefix.
 */
export class SelfTelemetry {
  private readonly families = new Map<string, SelfFamily>();
  private readonly hooks: (() => void)[] = [];
  private readonly startTimeMs = Date.now();
  /**
   * `service.telemetry.metrics.level`: which families `snapshot()` returns
   * (telemetry-levels.ts). Components register and update every family whatever the level.
   */
  level: TelemetryLevel = 'normal';
  /**
   * The self-metrics have their own endpoint (`service.telemetry.metrics.readers`): exporters
   * leave them out of the pipeline data.
   */
  ownEndpoint = false;

  counter(name: string, help: string, options?: SelfFamilyOptions): SelfFamily {
    return this.family(name, help, 'counter', options);
  }

  gauge(name: string, help: string, options?: SelfFamilyOptions): SelfFamily {
    return this.family(name, help, 'gauge', options);
  }

  /** Run `hook` at the start of every snapshot (values read on demand, e.g. process memory). */
  onSnapshot(hook: () => void): void {
    this.hooks.push(hook);
  }

  /**
   * The series of one family now, whatever the level (the status page); empty when no
   * component registered it. Snapshot hooks are not run: values are as last updated.
   */
  read(name: string): ScalarPoint[] {
    return this.families.get(name)?.points() ?? [];
  }

  /** The families the level exports, values read now. */
  snapshot(): MetricFamily[] {
    if (this.level === 'none') return [];
    for (const hook of this.hooks) hook();
    const level = this.level;
    // forEach, not a spread of values(): this runs every scrape, mostly unoptimized, where an
    // iterator makes an object per element.
    const out: MetricFamily[] = [];
    this.families.forEach((f) => {
      if (!exportedAt(level, f.level)) return;
      out.push({
        kind: f.kind,
        name: f.name,
        help: f.help,
        startTimeMs: f.startTimeMs ?? this.startTimeMs,
        points: f.points(),
        ...(f.unprefixed ? { unprefixed: true } : {}),
      });
    });
    return out;
  }

  private family(
    name: string,
    help: string,
    kind: 'counter' | 'gauge',
    options: SelfFamilyOptions = {},
  ): SelfFamily {
    const existing = this.families.get(name);
    if (existing) {
      if (existing.kind !== kind)
        throw new Error(`self-metric ${name} registered as ${existing.kind} and ${kind}`);
      return existing;
    }
    const family = new SelfFamily(name, help, kind, options);
    this.families.set(name, family);
    return family;
  }
}

export interface SelfFamilyOptions {
  /** A standard name (process_*, nodejs_*): the prometheus exporter does not prefix it. */
  readonly unprefixed?: boolean;
  /** Start of the cumulative series, if not the agent's start (e.g. the process start). */
  readonly startTimeMs?: number;
}

export class SelfFamily {
  readonly name: string;
  readonly help: string;
  readonly kind: 'counter' | 'gauge';
  readonly unprefixed: boolean;
  readonly startTimeMs: number | undefined;
  /** The level at which it is exported (telemetry-levels.ts), a fact of its name. */
  readonly level: SelfMetricLevel;
  private readonly series = new Map<string, { labels: Labels; value: number }>();

  constructor(name: string, help: string, kind: 'counter' | 'gauge', options: SelfFamilyOptions = {}) {
    this.name = name;
    this.help = help;
    this.kind = kind;
    this.unprefixed = options.unprefixed ?? false;
    this.startTimeMs = options.startTimeMs;
    this.level = levelOf(name);
  }

  add(labels: Labels, delta = 1): void {
    const s = this.entry(labels);
    s.value += delta;
  }

  set(labels: Labels, value: number): void {
    this.entry(labels).value = value;
  }

  /** Remove series whose labels include all of `match` (a stopped component's series). */
  remove(match: Labels): void {
    for (const [key, s] of this.series) {
      if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) this.series.delete(key);
    }
  }

  value(labels: Labels): number | undefined {
    return this.series.get(keyOf(labels))?.value;
  }

  points(): ScalarPoint[] {
    const out: ScalarPoint[] = [];
    this.series.forEach((s) => out.push({ labels: s.labels, value: s.value }));
    return out;
  }

  private entry(labels: Labels): { labels: Labels; value: number } {
    const key = keyOf(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels: { ...labels }, value: 0 };
      this.series.set(key, s);
    }
    return s;
  }
}

/**
 * One string per label set, whatever the order of its keys: each name and value behind its
 * length (so no two label sets share a key). Built in one pass when the keys come sorted (the
 * usual case: components pass the same literal every time), sorted first otherwise. Runs for
 * every update of a self-metric, several per scrape.
 */
function keyOf(labels: Labels): string {
  let key = '';
  let prev: string | undefined;
  for (const k in labels) {
    if (prev !== undefined && !(prev < k)) return sortedKeyOf(labels);
    const v = labels[k] as string;
    key += `${k.length}:${k}${v.length}:${v}`;
    prev = k;
  }
  return key;
}

function sortedKeyOf(labels: Labels): string {
  let key = '';
  for (const k of Object.keys(labels).sort()) {
    const v = labels[k] as string;
    key += `${k.length}:${k}${v.length}:${v}`;
  }
  return key;
}
