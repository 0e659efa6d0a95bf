/**
 * Alert rules for the agent: one group, written as a plain Prometheus rules file and as the
 * Prometheus Operator's PrometheusRule (the same groups). Each alert names the series it fires on
 * by `job`, `instance` and what is wrong (config, map, exporter), so one alert is one problem.
 */
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { RELOAD_SUCCESSFUL } from '../../src/reloader.ts';
import { collector, mapFill } from './metrics.ts';

/** The `job` of the agent's targets: the ServiceMonitor's (the Service's name) or the PodMonitor's (`<namespace>/<name>`). */
export const JOB_MATCHER = 'job=~".*ebpf-collector.*"';

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: { readonly severity: 'critical' | 'warning' };
  readonly annotations: { readonly summary: string; readonly description: string };
}

/** The alert's expression without its threshold: what the e2e test requires to return data. */
export interface Signal {
  readonly alert: string;
  readonly signal: string;
}

const attached = collector('program_attached');
const HASH_FILL = mapFill('', ['job', 'instance', 'config', 'map']);
const DROPS =
  `sum by (job, instance, config, map) (rate(${collector('events_kernel_dropped_total')}[5m]))` +
  ` + sum by (job, instance, config, map) (rate(${collector('events_dropped_total')}[5m]))`;
// OTLP requests of every signal (metrics, traces, logs), one sender each: per signal, so a
// failing one is not hidden by the others.
const requests = collector('otlp_requests_total');
const EXPORT_FAILURE_RATIO =
  `sum by (job, instance, exporter, signal) (rate(${requests}{result!="success"}[5m]))` +
  ` / sum by (job, instance, exporter, signal) (rate(${requests}[5m]))`;

const SIGNALS: readonly (Signal & { threshold: string; rule: Omit<AlertRule, 'alert' | 'expr'> })[] = [
  {
    alert: 'EbpfCollectorDown',
    signal: `up{${JOB_MATCHER}}`,
    threshold: ' == 0',
    rule: {
      for: '5m',
      labels: { severity: 'critical' },
      annotations: {
        summary: 'ebpf-collector {{ $labels.instance }} is down',
        description:
          'Prometheus has not scraped the agent at {{ $labels.instance }} for 5 minutes: no kernel metrics from that node.',
      },
    },
  },
  {
    alert: 'EbpfCollectorProgramNotAttached',
    // The chosen hook set's programs only (rejected fallbacks are program_hook_rejected), and
    // hook="none" for a required program no hook set could run.
    signal: attached,
    threshold: ' == 0',
    rule: {
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary:
          'ebpf-collector {{ $labels.instance }}: {{ with $labels.program }}program {{ . }} of {{ end }}{{ $labels.config }} is not attached',
        description:
          '{{ with $labels.program }}Program {{ . }} of config{{ else }}Config{{ end }} {{ $labels.config }} is not attached on {{ $labels.instance }} (hook set {{ $labels.hook }}: {{ $labels.reason }}), so its metrics are missing. ' +
          'The agent log and /readyz say more.',
      },
    },
  },
  {
    alert: 'EbpfCollectorMapNearCapacity',
    signal: HASH_FILL,
    threshold: ' > 0.9',
    rule: {
      for: '15m',
      labels: { severity: 'warning' },
      annotations: {
        summary:
          'ebpf-collector {{ $labels.instance }}: map {{ $labels.map }} of {{ $labels.config }} is {{ $value | humanizePercentage }} full',
        description:
          'The hash map {{ $labels.map }} ({{ $labels.config }}) holds more than 90% of its max_entries; when full, new keys are lost (an LRU map evicts old ones). ' +
          'Raise its size or filter its labels.',
      },
    },
  },
  {
    alert: 'EbpfCollectorMapUpdatesFailing',
    signal: `sum by (job, instance, config, map) (rate(${collector('map_update_failures_total')}[5m]))`,
    threshold: ' > 0',
    rule: {
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary:
          'ebpf-collector {{ $labels.instance }}: map {{ $labels.map }} of {{ $labels.config }} is full, updates fail',
        description:
          '{{ printf "%.3g" $value }} updates/s of map {{ $labels.map }} ({{ $labels.config }}) fail in the kernel (E2BIG/ENOMEM): what they would have counted is lost. ' +
          'Raise the map size or filter its labels.',
      },
    },
  },
  {
    alert: 'EbpfCollectorEventsDropped',
    signal: DROPS,
    threshold: ' > 0',
    rule: {
      for: '10m',
      labels: { severity: 'warning' },
      annotations: {
        summary:
          'ebpf-collector {{ $labels.instance }}: events of {{ $labels.config }}/{{ $labels.map }} are dropped',
        description:
          '{{ $value | humanize }} event records/s of {{ $labels.config }} ({{ $labels.map }}) are lost: the ring or perf buffer is full ' +
          '(ebpf_collector_events_kernel_dropped_total) or the decode queue is (ebpf_collector_events_dropped_total).',
      },
    },
  },
  {
    alert: 'EbpfCollectorExporterFailing',
    signal: EXPORT_FAILURE_RATIO,
    threshold: ' > 0.5',
    rule: {
      for: '10m',
      labels: { severity: 'warning' },
      annotations: {
        summary:
          'ebpf-collector {{ $labels.instance }}: exporter {{ $labels.exporter }} is failing ({{ $labels.signal }})',
        description:
          '{{ $value | humanizePercentage }} of the OTLP {{ $labels.signal }} requests of {{ $labels.exporter }} on {{ $labels.instance }} failed in the last 5 minutes. ' +
          'The reason is in the agent log and /readyz.',
      },
    },
  },
  {
    alert: 'EbpfCollectorKubernetesWatchDown',
    // Only where a pipeline runs k8s_attributes (clusterOnly).
    signal: collector('k8s_watch_live'),
    threshold: ' == 0',
    rule: {
      for: '10m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'ebpf-collector {{ $labels.instance }}: the Kubernetes pod watch is down',
        description:
          'The k8s_attributes processor on {{ $labels.instance }} has had no working pod watch for 10 minutes: points of pods started since then pass without pod labels, and label changes are not seen. ' +
          'The agent retries with backoff; the last error is on /readyz, /status and in the agent log (API server reachable? RBAC list/watch on pods? token mounted?).',
      },
    },
  },
  {
    alert: 'EbpfCollectorReloadFailed',
    signal: collector(RELOAD_SUCCESSFUL),
    threshold: ' == 0',
    rule: {
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'ebpf-collector {{ $labels.instance }}: the configuration reload failed',
        description:
          'The last configuration reload (SIGHUP or a changed file) on {{ $labels.instance }} was refused: the agent runs the previous configuration. ' +
          'The positioned errors are in the agent log.',
      },
    },
  },
];

/** Every alert's signal (its expression without the threshold). */
export function signals(): Signal[] {
  return SIGNALS.map(({ alert, signal }) => ({ alert, signal }));
}

export function alertRules(): AlertRule[] {
  return SIGNALS.map(({ alert, signal, threshold, rule }) => ({
    alert,
    expr: `${signal}${threshold}`,
    ...rule,
  }));
}

export const GROUP = 'ebpf-collector';

/** The rule groups, as both files hold them. */
export function ruleGroups(): { name: string; rules: AlertRule[] }[] {
  return [{ name: GROUP, rules: alertRules() }];
}

/** The PrometheusRule of deploy/kustomize/components/prometheusrule, validated by its model. */
export function prometheusRule(): PrometheusRule {
  const rule = new PrometheusRule({
    metadata: {
      name: 'ebpf-collector',
      namespace: 'ebpf-collector',
      labels: { 'app.kubernetes.io/name': 'ebpf-collector', 'app.kubernetes.io/instance': 'ebpf-collector' },
    },
    spec: { groups: ruleGroups().map((g) => ({ ...g, rules: g.rules.map((r) => ({ ...r })) })) },
  });
  rule.validate();
  return rule;
}
