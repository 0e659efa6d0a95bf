import type { Labels, MetricFamily, ScalarPoint } from './data.ts';
import { exportedAt, levelOf, type TelemetryLevel } from './telemetry-levels.ts';

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
    return [...this.families.values()]
      .filter((f) => exportedAt(level, levelOf(f.name)))
      .map((f) => ({
        kind: f.kind,
        name: f.name,
        help: f.help,
        startTimeMs: f.startTimeMs ?? this.startTimeMs,
        points: f.points(),
        ...(f.unprefixed ? { unprefixed: true } : {}),
      }));
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
  private readonly series = new Map<string, { labels: Labels; value: number }>();

  constructor(name: string, help: string, kind: 'counter' | 'gauge', options: SelfFamilyOptions = {}) {
    this.name = name;
    this.help = help;
    this.kind = kind;
    this.unprefixed = options.unprefixed ?? false;
    this.startTimeMs = options.startTimeMs;
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
    return [...this.series.values()].map((s) => ({ labels: s.labels, value: s.value }));
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

function keyOf(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
