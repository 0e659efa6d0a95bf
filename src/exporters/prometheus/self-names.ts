import type { MetricFamily } from '../../pipeline/data.ts';
import type { SelfTelemetry } from '../../pipeline/telemetry.ts';
import { agentVersion } from '../../version.ts';

/**
 * The agent's self-metrics as this exporter names them: one table.
 *
 * - The ones ebpf_exporter also has keep its names under the exporter's namespace
 *   (`ebpf_exporter_<name>`), with its types, labels and help (its exporter/exporter.go and
 *   main.go, v2.5), so dashboards and alerts written
 *   for it work unchanged. `ebpf_program_run_time_seconds` is a counter without `_total`
 *   there, and stays so.
 * - Standard names (`process_*`, `nodejs_*`, and ebpf_exporter's unprefixed
 *   `dropped_perf_event_map_events_<counter>`) are registered `unprefixed` and pass as they are.
 * - Every other one is the collector's own and goes under `ebpf_collector_`, whatever the
 *   namespace, so it can never take, or be mistaken for, a name of ebpf_exporter's (our
 *   `ebpf_collector_program_attached{config,program,hook,reason}` beside its
 *   `ebpf_exporter_ebpf_program_attached{id}`).
 */
const EBPF_EXPORTER_SELF_METRICS: ReadonlyMap<string, { readonly asNamed?: true }> = new Map([
  ['enabled_configs', {}],
  ['ebpf_program_info', {}],
  ['ebpf_program_attached', {}],
  ['ebpf_program_run_time_seconds', { asNamed: true }],
  ['ebpf_program_run_count_total', {}],
  ['decoder_errors_total', {}],
  ['build_info', {}],
]);

/** Prefix of the collector's own self-metrics (not the namespace: see above). */
export const COLLECTOR_PREFIX = 'ebpf_collector';

/** A self-metric family as this exporter exposes it (see the table above). */
export function exposedSelfFamily(f: MetricFamily): MetricFamily {
  if (f.unprefixed) return f;
  const upstream = EBPF_EXPORTER_SELF_METRICS.get(f.name);
  if (upstream) return upstream.asNamed && f.kind === 'counter' ? { ...f, asNamed: true } : f;
  return { ...f, name: `${COLLECTOR_PREFIX}_${f.name}`, unprefixed: true };
}

/** The self-metrics the telemetry level exports, with build_info, named as exposed. */
export function selfFamilies(telemetry: SelfTelemetry, buildInfo: MetricFamily): MetricFamily[] {
  if (telemetry.level === 'none') return [];
  return [...telemetry.snapshot(), buildInfo].map(exposedSelfFamily);
}

/**
 * `<namespace>_build_info`, as client_golang's version collector writes it for a Go
 * exporter (its labels and help; value 1), filled with the agent's build: `goversion` is
 * the runtime (`node24.9.0`), `goos`/`goarch` in Go's spelling.
 */
export function buildInfoFamily(namespace: string): MetricFamily {
  const goarch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm' };
  return {
    kind: 'gauge',
    name: 'build_info',
    help: `A metric with a constant '1' value labeled by version, revision, branch, goversion from which ${namespace || 'ebpf-collector'} was built, and the goos and goarch for the build.`,
    startTimeMs: Date.now(),
    points: [
      {
        labels: {
          branch: '',
          goarch: goarch[process.arch] ?? process.arch,
          goos: process.platform,
          goversion: `node${process.versions.node}`,
          revision: 'unknown',
          tags: 'unknown',
          version: agentVersion,
        },
        value: 1,
      },
    ],
  };
}
