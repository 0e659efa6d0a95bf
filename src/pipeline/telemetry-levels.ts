/**
 * Which self-metrics each `service.telemetry.metrics.level` exports: one table. Levels
 * include the ones below them (`none` exports nothing). Names are as registered (before an
 * exporter's prefix); the README's table is this one.
 *
 * - basic: what an operator alerts on — is it up and attached, is anything lost or failing:
 *   the agent's identity, programs attached, errors and drops, reload state, the Kubernetes
 *   watch being up, process memory and CPU.
 * - normal (the default, as the collector's): how much flows and how full things are —
 *   events, scrapes, collection duration, map fill, queues, sends, Kubernetes watch, and
 *   ebpf_exporter's program info and attachment by program id.
 * - detailed: the kernel's per-program run statistics (ebpf_exporter's run count and run
 *   time, present only while `kernel.bpf_stats_enabled=1`). Drop-in mode exports this level:
 *   everything ebpf_exporter has stays on its /metrics.
 *
 * A name in no row is `normal`: a new self-metric is exported by default until it is placed.
 */
export const SELF_METRIC_LEVELS = ['basic', 'normal', 'detailed'] as const;
export type SelfMetricLevel = (typeof SELF_METRIC_LEVELS)[number];
export type TelemetryLevel = 'none' | SelfMetricLevel;

const TABLE: readonly (readonly [SelfMetricLevel, readonly (string | RegExp)[]])[] = [
  [
    'basic',
    [
      'build_info',
      'enabled_configs',
      'program_attached',
      'program_hook_rejected',
      'decoder_errors_total',
      'map_read_errors_total',
      'map_update_failures_total',
      'events_kernel_dropped_total',
      'events_dropped_total',
      /^dropped_perf_event_map_events_/,
      /^exporter_dropped_.+_total$/,
      'prometheus_dropped_series_total',
      'series_budget_overflow_total',
      'prometheus_connections_dropped_total',
      'processor_errors_total',
      'k8s_watch_live',
      'config_last_reload_successful',
      'config_last_reload_success_timestamp_seconds',
      'process_resident_memory_bytes',
      'process_cpu_seconds_total',
      'process_start_time_seconds',
    ],
  ],
  [
    'normal',
    [
      'map_entries',
      'map_capacity',
      'map_cgroup_keys_removed_total',
      'events_received_total',
      'events_queue_length',
      'prometheus_scrapes_total',
      'collection_duration_seconds',
      'receiver_data_points',
      'otlp_requests_total',
      /^exporter_sent_.+_total$/,
      'exporter_queue_size',
      'processor_skipped_points_total',
      'k8s_watch_last_sync_timestamp_seconds',
      'k8s_watch_events_total',
      'k8s_relists_total',
      'k8s_pods_cached',
      'k8s_pending_released_total',
      'k8s_degraded_batches_total',
      'nodejs_eventloop_lag_seconds',
      'ebpf_program_info',
      'ebpf_program_attached',
    ],
  ],
  ['detailed', ['ebpf_program_run_count_total', 'ebpf_program_run_time_seconds']],
];

/** The level at which a self-metric (its registered name) is exported. */
export function levelOf(name: string): SelfMetricLevel {
  for (const [level, names] of TABLE)
    if (names.some((n) => (typeof n === 'string' ? n === name : n.test(name)))) return level;
  return 'normal';
}

/** Whether `level` exports a self-metric of `metricLevel`. */
export function exportedAt(level: TelemetryLevel, metricLevel: SelfMetricLevel): boolean {
  if (level === 'none') return false;
  return SELF_METRIC_LEVELS.indexOf(metricLevel) <= SELF_METRIC_LEVELS.indexOf(level);
}

/** Every row, for the documentation test. */
export function levelTable(): readonly (readonly [SelfMetricLevel, readonly (string | RegExp)[]])[] {
  return TABLE;
}
