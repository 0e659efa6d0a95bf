/**
 * deploy/helm/ebpf-collector: rendered with scripts/helm-template.ts (no helm binary here), the
 * chart produces the kustomize base's objects with default values, and the overlays' objects with
 * the matching values; every object validates against the Kubernetes schemas (unknown fields
 * rejected), with default and with maximal values; values.yaml matches values.schema.json.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { renderChart } from '../../scripts/helm-template.ts';
import { repoRoot } from '../helpers/agent.ts';
import {
  agentContainer,
  asContainer,
  find,
  kustomize,
  podSpec,
  validateStrict,
  type K8sObject,
} from './k8s-objects.ts';

const chartDir = join(repoRoot, 'deploy/helm/ebpf-collector');
const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string })
  .version;

function render(values: Record<string, unknown> = {}, dir = chartDir): K8sObject[] {
  return renderChart(dir, { namespace: 'ebpf-collector', values: [values] }).flatMap(
    (f) => f.documents as unknown as K8sObject[],
  );
}

/**
 * The differences between the chart and kustomize that are by design, removed before comparing:
 *   - the Namespace: kustomize creates it; with Helm it is `helm install --create-namespace`;
 *   - Helm's own labels (chart, managed-by, version);
 *   - the configuration ConfigMap's name: kustomize appends a hash of its content (a new
 *     configuration rolls the pods); the chart names it `<name>-config` and rolls the pods with a
 *     checksum annotation.
 */
function normalize(objects: readonly K8sObject[]): K8sObject[] {
  const copy = structuredClone(objects).filter((o) => o.kind !== 'Namespace');
  for (const o of copy) {
    const labels = o.metadata?.labels;
    if (labels) {
      delete labels['helm.sh/chart'];
      delete labels['app.kubernetes.io/managed-by'];
      delete labels['app.kubernetes.io/version'];
    }
    // The configuration's ConfigMap (kustomize: with its hash suffix); not the dashboards'.
    if (o.kind === 'ConfigMap' && o.metadata && /-config(-[a-z0-9]{10})?$/.test(o.metadata.name ?? ''))
      o.metadata.name = 'CONFIG';
  }
  const ds = find(copy, 'DaemonSet');
  const meta = ds.spec?.template.metadata;
  if (meta?.annotations) {
    assert.match(meta.annotations['checksum/config'] ?? '', /^[0-9a-f]{64}$/);
    delete meta.annotations['checksum/config'];
    if (Object.keys(meta.annotations).length === 0) delete meta.annotations;
  }
  const volume = podSpec(copy).volumes?.find((v) => v.name === 'config');
  if (volume?.configMap) volume.configMap.name = 'CONFIG';
  const key = (o: K8sObject) => `${o.kind}/${o.metadata?.name ?? ''}`;
  return copy.sort((a, b) => key(a).localeCompare(key(b)));
}

function assertSameObjects(chart: readonly K8sObject[], kustomized: readonly K8sObject[]): void {
  const a = normalize(chart);
  const b = normalize(kustomized);
  assert.deepEqual(
    a.map((o) => `${o.kind}/${o.metadata?.name ?? ''}`),
    b.map((o) => `${o.kind}/${o.metadata?.name ?? ''}`),
  );
  for (const [i, o] of a.entries()) assert.deepEqual(o, b[i], `${o.kind} ${o.metadata?.name ?? ''}`);
}

const maximal = {
  image: { repository: 'registry.example.com/obs/ebpf-collector', tag: '9.9.9', pullPolicy: 'Always' },
  imagePullSecrets: [{ name: 'regcred' }],
  fullnameOverride: 'kernel-metrics',
  otlp: { enabled: true, endpoint: 'https://otel.example.com:4317' },
  securityContext: {
    preset: 'leastPrivilege',
    extraCapabilities: ['SYS_ADMIN', 'DAC_READ_SEARCH'],
    seccompProfile: { type: 'Unconfined' },
  },
  hostPID: true,
  resources: { requests: { cpu: '100m', memory: '200Mi' }, limits: { cpu: '1', memory: '400Mi' } },
  priorityClassName: 'observability-critical',
  nodeSelector: { 'kubernetes.io/os': 'linux', 'node-role.example.com/worker': 'true' },
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [
          { matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['arm64'] }] },
        ],
      },
    },
  },
  tolerations: [
    { operator: 'Exists' },
    { key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' },
  ],
  maxUnavailable: 2,
  serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'kube-prometheus-stack' } },
  podMonitor: { enabled: true, interval: '15s', labels: { release: 'kube-prometheus-stack' } },
  dashboards: { enabled: true, labels: { grafana_dashboard: '1', team: 'kernel' } },
  prometheusRule: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
};

describe('helm chart: values', () => {
  const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as object;
  const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
  const defaults = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;

  it('Chart.yaml version and appVersion are package.json’s', () => {
    const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
    assert.equal(chart['version'], version);
    assert.equal(chart['appVersion'], version);
  });

  it('values.yaml and the maximal values match values.schema.json', () => {
    assert.ok(validate(defaults), JSON.stringify(validate.errors));
    assert.ok(validate({ ...defaults, ...maximal }), JSON.stringify(validate.errors));
  });

  it('the schema rejects unknown keys, an unknown preset and a capability spelled with CAP_', () => {
    for (const bad of [
      { ...defaults, hostPid: true },
      { ...defaults, securityContext: { preset: 'leastPriviledge' } },
      { ...defaults, securityContext: { preset: 'leastPrivilege', extraCapabilities: ['CAP_SYS_ADMIN'] } },
      { ...defaults, serviceMonitor: { enabled: true, intervall: '15s' } },
    ]) {
      assert.equal(validate(bad), false, JSON.stringify(bad));
    }
  });
});

describe('helm chart: the same objects as kustomize', () => {
  it('default values: the kustomize base (but the Namespace, Helm labels and the ConfigMap’s name)', () => {
    assertSameObjects(render(), kustomize('deploy/kustomize/base'));
  });
  it('serviceMonitor.enabled: the servicemonitor overlay', () => {
    assertSameObjects(
      render({ serviceMonitor: { enabled: true } }),
      kustomize('deploy/kustomize/overlays/servicemonitor'),
    );
  });
  it('podMonitor.enabled: the podmonitor overlay', () => {
    assertSameObjects(
      render({ podMonitor: { enabled: true } }),
      kustomize('deploy/kustomize/overlays/podmonitor'),
    );
  });
  it('securityContext.preset privileged: the privileged overlay', () => {
    assertSameObjects(
      render({ securityContext: { preset: 'privileged' } }),
      kustomize('deploy/kustomize/overlays/privileged'),
    );
  });
  it('otlp.enabled: the otlp overlay', () => {
    assertSameObjects(render({ otlp: { enabled: true } }), kustomize('deploy/kustomize/overlays/otlp'));
  });
  it('serviceMonitor + prometheusRule + dashboards enabled: the monitoring overlay', () => {
    assertSameObjects(
      render({
        serviceMonitor: { enabled: true },
        prometheusRule: { enabled: true },
        dashboards: { enabled: true },
      }),
      kustomize('deploy/kustomize/overlays/monitoring'),
    );
  });
  it('the comparison can fail: another capability is a difference', () => {
    assert.throws(
      () =>
        assertSameObjects(
          render({ securityContext: { extraCapabilities: ['SYS_ADMIN'] } }),
          kustomize('deploy/kustomize/base'),
        ),
      /DaemonSet ebpf-collector/,
    );
  });
});

describe('helm chart: every object validates, default and maximal values', () => {
  it('default values', () => {
    const objects = render();
    assert.deepEqual(objects.flatMap(validateStrict), []);
    const r = asContainer(objects, 'validate');
    assert.equal(r.status, 0, r.stderr);
  });

  it('maximal values (with a dashboard in the chart)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chart-'));
    try {
      cpSync(chartDir, dir, { recursive: true, dereference: true });
      writeFileSync(join(dir, 'dashboards', 'Kernel-Timers.json'), '{"title":"Kernel timers"}\n');
      const objects = render(maximal, dir);
      assert.deepEqual(objects.flatMap(validateStrict), []);
      assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata?.name ?? ''}`).sort(), [
        'ClusterRole/kernel-metrics',
        'ClusterRoleBinding/kernel-metrics',
        'ConfigMap/kernel-metrics-config',
        'ConfigMap/kernel-metrics-dashboard-agent',
        'ConfigMap/kernel-metrics-dashboard-kernel-timers',
        'ConfigMap/kernel-metrics-dashboard-programs',
        'DaemonSet/kernel-metrics',
        'PodMonitor/kernel-metrics',
        'PrometheusRule/kernel-metrics',
        'Service/kernel-metrics',
        'ServiceAccount/kernel-metrics',
        'ServiceMonitor/kernel-metrics',
      ]);
      const c = agentContainer(objects);
      assert.equal(c.image, 'registry.example.com/obs/ebpf-collector:9.9.9');
      assert.deepEqual(c.securityContext?.capabilities?.add, [
        'BPF',
        'PERFMON',
        'SYSLOG',
        'SYS_ADMIN',
        'DAC_READ_SEARCH',
      ]);
      assert.equal(podSpec(objects).hostPID, true);
      // A node affinity of one's own replaces the default (the image's architectures).
      assert.deepEqual(podSpec(objects).affinity, maximal.affinity);
      assert.deepEqual(
        find(objects, 'ServiceMonitor').metadata?.labels?.['release'],
        'kube-prometheus-stack',
      );
      assert.deepEqual(find(objects, 'ConfigMap', 'kernel-metrics-dashboard-kernel-timers').data, {
        'Kernel-Timers.json': '{"title":"Kernel timers"}\n',
      });
      const r = asContainer(objects, 'validate');
      assert.equal(r.status, 0, r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('dashboards.enabled: one ConfigMap per dashboard, the committed JSON as it is, for the sidecar', () => {
    const objects = render({ dashboards: { enabled: true } });
    const dashboards = objects.filter(
      (o) => o.kind === 'ConfigMap' && o.metadata?.name?.includes('dashboard'),
    );
    assert.deepEqual(
      dashboards.map((o) => o.metadata?.name),
      ['ebpf-collector-dashboard-agent', 'ebpf-collector-dashboard-programs'],
    );
    for (const cm of dashboards) {
      assert.equal(cm.metadata?.labels?.['grafana_dashboard'], '1');
      const [file, json] = Object.entries((cm as { data?: Record<string, string> }).data ?? {})[0] ?? [];
      assert.equal(json, readFileSync(join(repoRoot, 'deploy/monitoring/dashboards', file ?? ''), 'utf8'));
    }
    assert.equal(render().filter((o) => o.kind === 'ConfigMap').length, 1);
  });

  it('prometheusRule.enabled: the rules file’s groups, under the agent’s labels and the extra ones', () => {
    const rule = find(
      render({ prometheusRule: { enabled: true, labels: { release: 'prom' } } }),
      'PrometheusRule',
    );
    const plain = parse(
      readFileSync(join(repoRoot, 'deploy/monitoring/rules/ebpf-collector.rules.yaml'), 'utf8'),
    ) as { groups: unknown };
    assert.deepEqual(rule.spec.groups, plain.groups);
    assert.equal(rule.metadata?.labels?.['release'], 'prom');
    assert.throws(() => find(render(), 'PrometheusRule'));
  });

  it('a configuration of one’s own replaces the shipped one', () => {
    const config = readFileSync(join(repoRoot, 'pipelines/timers.yaml'), 'utf8');
    const objects = render({ config });
    assert.deepEqual(find(objects, 'ConfigMap').data, { 'config.yaml': config });
  });
});
