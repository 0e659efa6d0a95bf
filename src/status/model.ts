import type { AgentHealth, ComponentKind } from '../pipeline/component.ts';
import type { Labels } from '../pipeline/data.ts';
import type { SelfTelemetry } from '../pipeline/telemetry.ts';
import { agentVersion } from '../version.ts';

/**
 * What `/status` shows, as JSON (`Accept: application/json`) and as the page (html.ts): one
 * model from two sources that already hold every fact —
 *
 * - the agent's health (`Agent.health()`): phase, pipelines, each component's readiness,
 *   problems and `details` (the ebpf receiver's chosen hook set, rejected sets and reasons;
 *   an exporter's endpoint, last scrape or send, failures);
 * - the self-metrics (whatever `service.telemetry.metrics.level` exports): map fill and
 *   capacity, event streams and drops by config and map, collection durations, and the
 *   reload state (`config_last_reload_*`).
 */
export interface AgentStatus {
  readonly service: {
    readonly name: 'ebpf-collector';
    readonly version: string;
    readonly pid: number;
    readonly phase: AgentHealth['phase'];
    readonly ready: boolean;
    /** ISO times. */
    readonly started_at: string;
    readonly now: string;
    readonly uptime_seconds: number;
  };
  readonly pipelines: readonly PipelineStatus[];
  readonly components: readonly ComponentStatus[];
  readonly programs: readonly ProgramStatus[];
  readonly maps: readonly MapStatus[];
  readonly events: readonly EventStreamStatus[];
  readonly reload: ReloadStatus;
  readonly telemetry: { readonly level: SelfTelemetry['level'] };
}

export interface PipelineStatus {
  readonly id: string;
  readonly receivers: readonly string[];
  readonly processors: readonly string[];
  readonly exporters: readonly string[];
}

export interface ComponentStatus {
  readonly id: string;
  readonly kind: ComponentKind;
  readonly ready: boolean;
  readonly problems: readonly string[];
  readonly details: Readonly<Record<string, unknown>>;
}

/** One receiver's program: the hook set chosen (`none`: none runs) and the sets rejected, with why. */
export interface ProgramStatus {
  readonly receiver: string;
  /** ebpf_exporter's config name (`timers`). */
  readonly program: string;
  readonly hook: string;
  readonly ready: boolean;
  readonly optional: boolean;
  readonly attached: readonly string[];
  readonly not_attached: readonly string[];
  readonly rejected: readonly { readonly hook: string; readonly reason: string }[];
}

export interface MapStatus {
  readonly config: string;
  readonly map: string;
  readonly entries: number | null;
  readonly capacity: number | null;
  /** entries / capacity, 0..1; null when either is unknown. */
  readonly fill: number | null;
}

export interface EventStreamStatus {
  readonly config: string;
  readonly map: string;
  readonly received: number;
  readonly queued: number;
  /** In the agent (decode queue full), by reason. */
  readonly dropped: number;
  /** In the kernel (ring reserve failures, perf lost samples). */
  readonly kernel_dropped: number;
}

/** `null`: the agent has not reloaded and does not say (no reload self-metrics). */
export interface ReloadStatus {
  readonly last_successful: boolean | null;
  readonly last_success_at: string | null;
}

export interface StatusSources {
  readonly health: AgentHealth;
  readonly telemetry: SelfTelemetry;
  /** Process start, ms since the epoch (tests pass their own). */
  readonly startedAtMs?: number;
  readonly nowMs?: number;
}

const processStartMs = Date.now() - process.uptime() * 1000;

/** Health when the host gives none (a component started outside an agent). */
export const noHealth: AgentHealth = { ready: false, phase: 'starting', components: [] };

export function agentStatus(src: StatusSources): AgentStatus {
  const now = src.nowMs ?? Date.now();
  const started = src.startedAtMs ?? processStartMs;
  const t = src.telemetry;
  const components = src.health.components.map((c): ComponentStatus => ({
    id: c.id,
    kind: c.kind,
    ready: c.ready,
    problems: c.problems,
    details: c.details ?? {},
  }));
  return {
    service: {
      name: 'ebpf-collector',
      version: agentVersion,
      pid: process.pid,
      phase: src.health.phase,
      ready: src.health.ready,
      started_at: new Date(started).toISOString(),
      now: new Date(now).toISOString(),
      uptime_seconds: Math.max(0, Math.round((now - started) / 1000)),
    },
    pipelines: src.health.pipelines ?? [],
    components,
    programs: programsOf(components, t),
    maps: mapsOf(t),
    events: eventsOf(t),
    reload: reloadOf(t),
    telemetry: { level: t.level },
  };
}

function programsOf(components: readonly ComponentStatus[], t: SelfTelemetry): ProgramStatus[] {
  const receivers = components.filter((c) => c.kind === 'receiver');
  const fromDetails = receivers.flatMap(programOf);
  const known = new Set(fromDetails.map((p) => p.program));
  return [...fromDetails, ...programsFromTelemetry(t, receivers, known)];
}

function programOf(c: ComponentStatus): ProgramStatus[] {
  const d = c.details;
  if (typeof d['program'] !== 'string') return [];
  const strings = (v: unknown): string[] =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  const rejected = Array.isArray(d['rejected'])
    ? d['rejected'].flatMap((r: unknown) => {
        if (typeof r !== 'object' || r === null) return [];
        const { hook, reason } = r as Record<string, unknown>;
        return [
          { hook: typeof hook === 'string' ? hook : '', reason: typeof reason === 'string' ? reason : '' },
        ];
      })
    : [];
  return [
    {
      receiver: c.id,
      program: d['program'],
      hook: typeof d['hook'] === 'string' ? d['hook'] : 'none',
      ready: c.ready,
      optional: d['optional'] === true,
      attached: strings(d['attached']),
      not_attached: strings(d['not_attached']),
      rejected,
    },
  ];
}

/**
 * Programs of configs whose receiver gives no `program` details, from the self-metrics:
 * `program_attached{config,program,hook,reason}` (1 attached, 0 failed) and
 * `program_hook_rejected{config,program,hook,reason}`. Where a config has attached programs,
 * that hook is the chosen set and zeros under other hooks are rejected sets.
 */
function programsFromTelemetry(
  t: SelfTelemetry,
  receivers: readonly ComponentStatus[],
  known: ReadonlySet<string>,
): ProgramStatus[] {
  const byConfig = new Map<string, { attached: Labels[]; failed: Labels[]; rejected: Labels[] }>();
  const entry = (config: string) => {
    let e = byConfig.get(config);
    if (!e) byConfig.set(config, (e = { attached: [], failed: [], rejected: [] }));
    return e;
  };
  for (const p of t.read('program_attached')) {
    const config = p.labels['config'];
    if (config === undefined || known.has(config)) continue;
    (p.value === 1 ? entry(config).attached : entry(config).failed).push(p.labels);
  }
  for (const p of t.read('program_hook_rejected')) {
    const config = p.labels['config'];
    if (config === undefined || known.has(config) || p.value !== 1) continue;
    entry(config).rejected.push(p.labels);
  }
  return [...byConfig]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([config, e]) => {
      const hook = e.attached[0]?.['hook'] ?? 'none';
      const inChosen = e.failed.filter((l) => l['hook'] === hook);
      const rejected = new Map<string, string>();
      for (const l of [...e.rejected, ...e.failed.filter((x) => x['hook'] !== hook && x['hook'] !== 'none')])
        if (!rejected.has(l['hook'] ?? '')) rejected.set(l['hook'] ?? '', l['reason'] ?? 'failed');
      const receiver = receivers.find((r) => r.id === config || r.id.endsWith(`/${config}`))?.id;
      return {
        receiver: receiver ?? `(config ${config})`,
        program: config,
        hook,
        ready: hook !== 'none' && inChosen.length === 0,
        optional: false,
        attached: e.attached.map((l) => l['program'] ?? ''),
        not_attached: inChosen.map((l) => l['program'] ?? ''),
        rejected: [...rejected].map(([h, reason]) => ({ hook: h, reason })),
      };
    });
}

const key = (l: Labels): string => `${l['config'] ?? ''}\u0000${l['map'] ?? ''}`;

function byConfigMap(t: SelfTelemetry, name: string, where?: (l: Labels) => boolean): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of t.read(name)) {
    if (where && !where(p.labels)) continue;
    out.set(key(p.labels), (out.get(key(p.labels)) ?? 0) + p.value);
  }
  return out;
}

function split(k: string): { config: string; map: string } {
  const [config = '', map = ''] = k.split('\u0000');
  return { config, map };
}

const byName = (a: { config: string; map: string }, b: { config: string; map: string }): number =>
  a.config === b.config ? (a.map < b.map ? -1 : 1) : a.config < b.config ? -1 : 1;

function mapsOf(t: SelfTelemetry): MapStatus[] {
  const entries = byConfigMap(t, 'map_entries');
  const capacity = byConfigMap(t, 'map_capacity');
  return [...new Set([...entries.keys(), ...capacity.keys()])]
    .map((k) => {
      const e = entries.get(k) ?? null;
      const c = capacity.get(k) ?? null;
      return { ...split(k), entries: e, capacity: c, fill: e !== null && c ? e / c : null };
    })
    .sort(byName);
}

function eventsOf(t: SelfTelemetry): EventStreamStatus[] {
  const received = byConfigMap(t, 'events_received_total');
  const queued = byConfigMap(t, 'events_queue_length');
  const dropped = byConfigMap(t, 'events_dropped_total');
  const kernel = byConfigMap(t, 'events_kernel_dropped_total');
  return [...new Set([...received.keys(), ...queued.keys(), ...dropped.keys(), ...kernel.keys()])]
    .map((k) => ({
      ...split(k),
      received: received.get(k) ?? 0,
      queued: queued.get(k) ?? 0,
      dropped: dropped.get(k) ?? 0,
      kernel_dropped: kernel.get(k) ?? 0,
    }))
    .sort(byName);
}

function reloadOf(t: SelfTelemetry): ReloadStatus {
  const ok = t.read('config_last_reload_successful')[0]?.value;
  const at = t.read('config_last_reload_success_timestamp_seconds')[0]?.value;
  return {
    last_successful: ok === undefined ? null : ok === 1,
    last_success_at: at === undefined || at <= 0 ? null : new Date(at * 1000).toISOString(),
  };
}
