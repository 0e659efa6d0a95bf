/**
 * deploy/kustomize: the base and every overlay render with kubectl's kustomize, every object
 * validates against the Kubernetes schemas (unknown fields rejected), and the DaemonSet is what
 * the agent and pipelines/kubernetes.yaml need.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from '../helpers/agent.ts';
import {
  agentContainer,
  asContainer,
  find,
  kustomize,
  podSpec,
  setField,
  validateStrict,
  type K8sObject,
} from './k8s-objects.ts';
import { caps } from './capabilities.ts';
import { ARCHES } from '../../deploy/image/manifest.ts';
import { FakeKubeApi, fakePod } from '../helpers/fake-kube-api.ts';
import { plainConnection } from '../../src/processors/k8s_attributes/connection.ts';
import { PodWatcher } from '../../src/processors/k8s_attributes/pod-watcher.ts';

const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string })
  .version;
const overlays = readdirSync(join(repoRoot, 'deploy/kustomize/overlays')).sort();
const rendered = new Map<string, K8sObject[]>([
  ['base', kustomize('deploy/kustomize/base')],
  ...overlays.map((o): [string, K8sObject[]] => [o, kustomize(`deploy/kustomize/overlays/${o}`)]),
]);
const base = rendered.get('base') as K8sObject[];

interface Printed {
  exporters: Record<string, { endpoint: string }>;
  service: { pipelines: Record<string, { exporters: string[] }> };
}

describe('kustomize: every object validates against the Kubernetes schemas, unknown fields rejected', () => {
  it('there are overlays for ServiceMonitor, PodMonitor, privileged, OTLP and monitoring', () => {
    assert.deepEqual(overlays, ['monitoring', 'otlp', 'podmonitor', 'privileged', 'servicemonitor']);
  });
  for (const [name, objects] of rendered) {
    it(name, () => {
      assert.ok(objects.length >= 7);
      assert.deepEqual(objects.flatMap(validateStrict), []);
      // Namespaced objects, those the components add included, land in the agent's namespace.
      for (const o of objects) {
        if (['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind)) continue;
        assert.equal(o.metadata?.namespace, 'ebpf-collector', `${o.kind} ${o.metadata?.name ?? ''}`);
      }
    });
  }
  it('the check rejects an unknown field and a wrong type (it can fail)', () => {
    const ds = structuredClone(find(base, 'DaemonSet'));
    const pod = ['spec', 'template', 'spec'];
    setField(ds, [...pod, 'containers', 0, 'securityContext', 'capabilites'], { add: ['SYS_ADMIN'] });
    setField(ds, [...pod, 'hostPid'], true);
    assert.deepEqual(validateStrict(ds), [
      'apps/v1/DaemonSet ebpf-collector: .spec.template.spec.containers.0.securityContext.capabilites: unknown field',
      'apps/v1/DaemonSet ebpf-collector: .spec.template.spec.hostPid: unknown field',
    ]);
    setField(ds, [...pod, 'hostPID'], 'yes');
    assert.match(validateStrict(ds).join('\n'), /hostPID must be boolean/);
  });
});

describe('kustomize base', () => {
  it('holds the Namespace, ServiceAccount, RBAC, ConfigMap, DaemonSet and headless Service, in one namespace (checked above)', () => {
    assert.deepEqual(base.map((o) => o.kind).sort(), [
      'ClusterRole',
      'ClusterRoleBinding',
      'ConfigMap',
      'DaemonSet',
      'Namespace',
      'Service',
      'ServiceAccount',
    ]);
    assert.equal(find(base, 'Service').spec?.clusterIP, 'None');
  });

  it('RBAC: list and watch pods, nothing more, bound to the DaemonSet’s service account', () => {
    assert.deepEqual(find(base, 'ClusterRole').rules, [
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
    ]);
    const binding = find(base, 'ClusterRoleBinding');
    assert.equal(binding.roleRef.name, find(base, 'ClusterRole').metadata?.name);
    assert.deepEqual(binding.subjects, [
      { kind: 'ServiceAccount', name: 'ebpf-collector', namespace: 'ebpf-collector' },
    ]);
    assert.equal(podSpec(base).serviceAccountName, 'ebpf-collector');
  });

  it('RBAC: every request the k8s_attributes pod watcher makes is a pods list or watch (run against the fake API)', async () => {
    const api = new FakeKubeApi();
    await api.listen();
    api.add(fakePod('uid-1', 'one', { node: 'node-a' }));
    api.add(fakePod('uid-2', 'two', { node: 'node-a' }));
    const watcher = new PodWatcher({
      connection: () => plainConnection(api.url),
      nodeName: 'node-a',
      store: { replace: () => {}, upsert: () => {}, remove: () => {} },
      livenessMs: 5_000,
      requestTimeoutMs: 5_000,
      backoffInitialMs: 10,
      backoffMaxMs: 50,
      pageSize: 1, // paged lists
    });
    try {
      watcher.start();
      await api.until(() => api.watches.length >= 1, 5_000, 'a watch');
      api.expireWatches(); // 410 Gone: a re-list and a new watch
      await api.until(() => api.lists.length >= 4 && api.watches.length >= 2, 5_000, 'a re-list and watch');
    } finally {
      await watcher.stop();
      await api.close();
    }
    const verbs = new Set(
      api.requests.map((u) =>
        u.pathname !== '/api/v1/pods'
          ? `GET ${u.pathname}`
          : u.searchParams.get('watch') === '1'
            ? 'watch'
            : 'list',
      ),
    );
    assert.deepEqual([...verbs].sort(), find(base, 'ClusterRole').rules?.[0]?.verbs);
  });

  it('the ConfigMap is pipelines/kubernetes.yaml itself, mounted by the DaemonSet under its generated name', () => {
    const cm = find(base, 'ConfigMap');
    assert.deepEqual(cm.data, {
      'config.yaml': readFileSync(join(repoRoot, 'pipelines/kubernetes.yaml'), 'utf8'),
    });
    const volume = podSpec(base).volumes?.find((v) => v.name === 'config');
    assert.equal(volume?.configMap?.name, cm.metadata?.name);
    assert.match(cm.metadata?.name ?? '', /^ebpf-collector-config-[a-z0-9]{10}$/);
  });

  it('the container’s args, env and ConfigMap make a configuration the agent accepts', () => {
    const r = asContainer(base, 'validate');
    assert.equal(r.status, 0, r.stderr);
  });

  it('the DaemonSet: node name from the downward API, every taint tolerated, rolling update, node-critical priority', () => {
    const ds = find(base, 'DaemonSet');
    const pod = podSpec(base);
    const c = agentContainer(base);
    assert.deepEqual(
      c.env?.find((e) => e.name === 'K8S_NODE_NAME'),
      { name: 'K8S_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    );
    assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
    assert.equal(ds.spec?.updateStrategy?.type, 'RollingUpdate');
    assert.ok(ds.spec?.updateStrategy?.rollingUpdate?.maxUnavailable);
    assert.equal(pod.priorityClassName, 'system-node-critical');
    assert.equal(c.image, `ebpf-collector:${version}`);
    assert.ok(
      c.resources?.limits?.['memory'] && c.resources.requests?.['memory'] && c.resources.requests['cpu'],
    );
  });

  it('one image reference for every node, scheduled only on the architectures the image is built for', () => {
    for (const [name, objects] of rendered) {
      const pod = podSpec(objects);
      assert.equal(agentContainer(objects).image, `ebpf-collector:${version}`, name);
      assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' }, name);
      const terms =
        pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
      assert.deepEqual(
        terms,
        [{ matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: [...ARCHES] }] }],
        name,
      );
    }
  });

  it('probes: liveness on /healthz and readiness on /readyz, on the port the configuration serves', () => {
    const c = agentContainer(base);
    const port = c.ports?.find((p) => p.name === 'metrics');
    assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
    assert.equal(c.startupProbe?.httpGet?.path, '/healthz');
    assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
    for (const p of [c.livenessProbe, c.readinessProbe, c.startupProbe])
      assert.equal(p?.httpGet?.port, 'metrics');
    const printed = asContainer(base, 'print-config');
    assert.equal(printed.status, 0, printed.stderr);
    const config = parse(printed.stdout) as Printed;
    assert.equal(config.exporters['prometheus']?.endpoint, `0.0.0.0:${port?.containerPort}`);
    const svc = find(base, 'Service');
    assert.deepEqual(svc.spec?.ports, [
      { name: 'metrics', port: port?.containerPort, targetPort: 'metrics', protocol: 'TCP' },
    ]);
    assert.deepEqual(svc.spec?.selector, find(base, 'DaemonSet').spec?.template.metadata?.labels);
  });

  it('security: what `ebpf-collector caps --config pipelines/kubernetes.yaml` derives, read-only root and mounts, no host PID', () => {
    const pod = podSpec(base);
    const c = agentContainer(base);
    const derived = caps();
    assert.deepEqual(derived.capabilities, ['BPF', 'PERFMON', 'SYSLOG']);
    // caps' securityContext, field for field; the DaemonSet adds only who runs (root, with just these).
    const { runAsUser, runAsNonRoot, ...rest } = c.securityContext ?? {};
    assert.deepEqual(rest, derived.securityContext);
    assert.deepEqual([runAsUser, runAsNonRoot], [0, false]);
    assert.equal(pod.hostPID ?? false, derived.hostPID);
    assert.equal(pod.hostNetwork ?? false, false);
    for (const m of c.volumeMounts ?? []) assert.equal(m.readOnly, true, m.mountPath);
    const hostPaths = (pod.volumes ?? []).flatMap((v) => (v.hostPath ? [v.hostPath.path] : []));
    assert.deepEqual(hostPaths.sort(), ['/sys/fs/cgroup', '/sys/kernel/btf', '/sys/kernel/tracing']);
  });
});

describe('kustomize overlays', () => {
  const overlay = (name: string): K8sObject[] => rendered.get(name) as K8sObject[];

  it('servicemonitor / podmonitor select the agent’s Service / pods by the metrics port', () => {
    const sm = find(overlay('servicemonitor'), 'ServiceMonitor');
    assert.deepEqual(sm.spec.selector.matchLabels, find(base, 'Service').metadata?.labels);
    assert.equal(sm.spec.endpoints?.[0]?.port, 'metrics');
    const pm = find(overlay('podmonitor'), 'PodMonitor');
    assert.deepEqual(pm.spec.selector.matchLabels, find(base, 'DaemonSet').spec?.template.metadata?.labels);
    assert.equal(pm.spec.podMetricsEndpoints?.[0]?.port, 'metrics');
    assert.throws(() => find(overlay('servicemonitor'), 'PodMonitor'));
  });

  it('privileged: a privileged container without a seccomp profile (kernels before 5.8), the rest as the base', () => {
    assert.deepEqual(agentContainer(overlay('privileged')).securityContext, {
      privileged: true,
      readOnlyRootFilesystem: true,
      runAsUser: 0,
      runAsNonRoot: false,
      seccompProfile: { type: 'Unconfined' },
    });
    const strip = (objects: K8sObject[]): K8sObject[] => {
      const copy = structuredClone(objects);
      delete agentContainer(copy).securityContext;
      return copy;
    };
    assert.deepEqual(strip(overlay('privileged')), strip(base));
  });

  it('otlp: a second config file that the agent merges and accepts, with OTLP_ENDPOINT set', () => {
    const objects = overlay('otlp');
    const c = agentContainer(objects);
    assert.deepEqual(c.args, [
      'run',
      '--config',
      '/etc/ebpf-collector/config.yaml',
      '--config',
      '/etc/ebpf-collector/otlp.yaml',
    ]);
    const endpoint = c.env?.find((e) => e.name === 'OTLP_ENDPOINT')?.value;
    assert.match(endpoint ?? '', /^https?:\/\//);
    assert.equal(
      find(objects, 'ConfigMap').data?.['otlp.yaml'],
      readFileSync(join(repoRoot, 'deploy/kustomize/components/otlp/otlp.yaml'), 'utf8'),
    );
    const r = asContainer(objects, 'print-config');
    assert.equal(r.status, 0, r.stderr);
    const config = parse(r.stdout) as Printed;
    assert.equal(config.exporters['otlp']?.endpoint, endpoint);
    for (const p of Object.values(config.service.pipelines))
      assert.deepEqual(p.exporters, ['prometheus', 'otlp']);
  });
});

describe('kustomize monitoring overlay', () => {
  const objects = rendered.get('monitoring') as K8sObject[];

  it('the servicemonitor overlay plus a PrometheusRule and one ConfigMap per dashboard', () => {
    const added = (o: K8sObject) =>
      o.kind === 'PrometheusRule' || (o.kind === 'ConfigMap' && o.metadata?.name?.includes('dashboard'));
    assert.deepEqual(
      objects.filter(added).map((o) => `${o.kind}/${o.metadata?.name ?? ''}`),
      [
        'ConfigMap/ebpf-collector-dashboard-agent',
        'ConfigMap/ebpf-collector-dashboard-programs',
        'PrometheusRule/ebpf-collector',
      ],
    );
    assert.deepEqual(
      objects.filter((o) => !added(o)),
      rendered.get('servicemonitor'),
    );
  });

  it('the dashboards: the committed JSON as it is, labelled for Grafana’s sidecar, no hash suffix', () => {
    for (const name of ['agent', 'programs']) {
      const cm = find(objects, 'ConfigMap', `ebpf-collector-dashboard-${name}`);
      assert.equal(cm.metadata?.labels?.['grafana_dashboard'], '1');
      const file = `ebpf-collector-${name}.json`;
      assert.deepEqual(cm.data, {
        [file]: readFileSync(join(repoRoot, 'deploy/monitoring/dashboards', file), 'utf8'),
      });
    }
  });

  it('the PrometheusRule holds the plain rules file’s groups', () => {
    const rule = find(objects, 'PrometheusRule');
    const plain = parse(
      readFileSync(join(repoRoot, 'deploy/monitoring/rules/ebpf-collector.rules.yaml'), 'utf8'),
    ) as { groups: unknown };
    assert.deepEqual(rule.spec.groups, plain.groups);
  });
});
