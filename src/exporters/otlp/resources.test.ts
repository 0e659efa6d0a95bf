import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Subject } from 'rxjs';
import type { MetricBatch, MetricFamily, RawFamily, RawPoint } from '../../pipeline/data.ts';
import { SEMANTIC_ATTRIBUTE_NAMES } from '../../pipeline/otel.ts';
import { attributesOf, startOtlpReceiver, type ReceivedExport } from '../../../test/helpers/otlp-receiver.ts';
import { configSchema as httpConfigSchema } from '../otlphttp/config.ts';
import { otlpHttpExporterFactory } from '../otlphttp/factory.ts';
import { configSchema } from './config.ts';
import { otlpExporterFactory } from './factory.ts';
import type { OtlpExporter } from './otlp.ts';
import { splitByResource } from './resources.ts';
import { testHost } from '../../../test/helpers/host.ts';

const POD_A = {
  container_id: 'a'.repeat(64),
  container_runtime: 'containerd',
  k8s_pod_uid: '11111111-1111-1111-1111-111111111111',
  k8s_pod_qos: 'burstable',
  k8s_pod_name: 'web-1',
  k8s_namespace_name: 'shop',
  k8s_node_name: 'node-1',
  k8s_container_name: 'nginx',
};
const POD_B = {
  ...POD_A,
  container_id: 'b'.repeat(64),
  k8s_pod_uid: '22222222-2222-2222-2222-222222222222',
  k8s_pod_name: 'db-0',
  k8s_container_name: 'postgres',
};
/** POD_A's labels under their semantic-convention names: what its resource must hold. */
const semantic = (labels: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(labels).map(([k, v]) => [SEMANTIC_ATTRIBUTE_NAMES[k] ?? k, v]));

describe('splitByResource', () => {
  const counter: MetricFamily = {
    kind: 'counter',
    name: 'malloc_calls_total',
    help: 'h',
    startTimeMs: 1,
    points: [
      { labels: { ...POD_A, cgroup: '/a', app: 'web' }, value: 1 },
      { labels: { ...POD_B, cgroup: '/b', app: 'db' }, value: 2 },
      { labels: { cgroup: '/system.slice/cron.service' }, value: 3 },
      { labels: { ...POD_A, cgroup: '/a2', app: 'web' }, value: 4 },
    ],
  };
  const histogram: MetricFamily = {
    kind: 'histogram',
    name: 'bio_latency_seconds',
    help: 'h',
    startTimeMs: 1,
    points: [
      { labels: { ...POD_B, disk: 'sda' }, boundaries: [1], counts: [1, 0], sum: 1, count: 1 },
      { labels: { disk: 'sdb' }, boundaries: [1], counts: [0, 2], sum: 4, count: 2 },
    ],
  };
  const empty: MetricFamily = { kind: 'gauge', name: 'nothing_yet', help: 'h', startTimeMs: 1, points: [] };

  it('2 pods + node-level series → 3 groups; pod labels only on the resource, the rest only on points', () => {
    const groups = splitByResource([counter, histogram, empty], SEMANTIC_ATTRIBUTE_NAMES);
    assert.equal(groups.length, 3);
    const [a, b, node] = groups;
    assert.deepEqual(a?.attributes, semantic(POD_A));
    assert.deepEqual(b?.attributes, semantic(POD_B));
    assert.deepEqual(node?.attributes, {});
    assert.equal(a?.attributes['k8s.pod.name'], 'web-1');
    assert.equal(a?.attributes['container.id'], 'a'.repeat(64));

    const pointsOf = (families: readonly MetricFamily[] | undefined): unknown =>
      (families ?? []).map((f) => [f.name, f.points.map((p) => p.labels)]);
    assert.deepEqual(pointsOf(a?.families), [
      [
        'malloc_calls_total',
        [
          { cgroup: '/a', app: 'web' },
          { cgroup: '/a2', app: 'web' },
        ],
      ],
    ]);
    assert.deepEqual(pointsOf(b?.families), [
      ['malloc_calls_total', [{ cgroup: '/b', app: 'db' }]],
      ['bio_latency_seconds', [{ disk: 'sda' }]],
    ]);
    assert.deepEqual(pointsOf(node?.families), [
      ['malloc_calls_total', [{ cgroup: '/system.slice/cron.service' }]],
      ['bio_latency_seconds', [{ disk: 'sdb' }]],
      ['nothing_yet', []],
    ]);
    // Values and the other fields go with their points.
    assert.deepEqual(
      a?.families[0]?.points.map((p) => (p as { value: number }).value),
      [1, 4],
    );
    const h = b?.families[1];
    assert.ok(h?.kind === 'histogram');
    assert.deepEqual(h.points[0]?.counts, [1, 0]);
    // No attribute is in both places.
    for (const g of groups)
      for (const f of g.families)
        for (const p of f.points)
          for (const k of Object.keys(p.labels)) {
            assert.ok(!Object.hasOwn(SEMANTIC_ATTRIBUTE_NAMES, k), `${k} left on a point`);
            assert.ok(!Object.hasOwn(g.attributes, k), `${k} on both the point and the resource`);
          }
  });

  it('a container without a pod (podman) is its own resource; as_is keeps the label names', () => {
    const podman: MetricFamily = {
      kind: 'gauge',
      name: 'g',
      help: 'h',
      startTimeMs: 1,
      points: [
        { labels: { container_id: 'c'.repeat(64), container_runtime: 'podman', comm: 'sh' }, value: 1 },
      ],
    };
    const asIs = Object.fromEntries(Object.keys(SEMANTIC_ATTRIBUTE_NAMES).map((k) => [k, k]));
    const [g] = splitByResource([podman], asIs);
    assert.deepEqual(g?.attributes, { container_id: 'c'.repeat(64), container_runtime: 'podman' });
    assert.deepEqual(g?.families[0]?.points[0]?.labels, { comm: 'sh' });
  });
});

const logger = pino({ level: 'silent' });
const final = (labels: Record<string, string>, value: number): RawPoint => ({
  labels: Object.entries(labels).map(([name, v]) => ({ name, value: v, pending: [] })),
  value,
});

function k8sBatch(): MetricBatch {
  const family: RawFamily = {
    name: 'malloc_calls_total',
    help: 'malloc calls',
    kind: 'counter',
    startTimeMs: 1_700_000_000_000,
    points: [
      final({ ...POD_A, cgroup: '/a' }, 10),
      final({ ...POD_B, cgroup: '/b' }, 20),
      final({ cgroup: '/system.slice/cron.service' }, 30),
    ],
  };
  return {
    source: 'ebpf/uprobe',
    config: 'uprobe',
    timeMs: Date.now(),
    families: [family],
    resource: { 'k8s.cluster.name': 'eu-1' },
  };
}

for (const protocol of ['otlp', 'otlphttp'] as const) {
  it(`${protocol}: a real receiver gets one ResourceMetrics per pod and one for the node`, async () => {
    const receiver = await startOtlpReceiver();
    const base = { interval: '1h', timeout: '2s' };
    const exporter = (
      protocol === 'otlp'
        ? await otlpExporterFactory.create(
            { id: protocol, logger, configDir: '.' },
            configSchema.parse({ ...base, endpoint: `http://${receiver.endpoint}` }),
          )
        : await otlpHttpExporterFactory.create(
            { id: protocol, logger, configDir: '.' },
            httpConfigSchema.parse({ ...base, endpoint: receiver.httpUrl }),
          )
    ) as OtlpExporter;
    const host = testHost({ logger });
    const input = new Subject<MetricBatch>();
    exporter.consume(input);
    try {
      await exporter.start(host);
      input.next(k8sBatch());
      await exporter.metrics?.tick();
      await exporter.metrics?.idle();
      const calls = await receiver.waitForCalls(3);
      const seen = calls.map((call: ReceivedExport) => {
        const rms = call.request.resourceMetrics ?? [];
        assert.equal(rms.length, 1);
        const malloc = receiver.metricsOf(call).find((m) => m.name === 'malloc_calls_total');
        return {
          resource: attributesOf(rms[0]?.resource?.attributes),
          points: (malloc?.sum?.dataPoints ?? []).map((p) => ({
            attributes: attributesOf(p.attributes),
            value: Number(p.asInt),
          })),
          self: receiver.metricsOf(call).some((m) => m.name === 'receiver_data_points'),
        };
      });
      const agent = {
        'service.name': 'ebpf-collector',
        'service.instance.id': seen[0]?.resource['service.instance.id'],
        'host.name': hostname(),
        'k8s.cluster.name': 'eu-1',
      };
      assert.equal(seen.length, 3, JSON.stringify(seen));
      assert.deepEqual(seen[0], {
        resource: { ...agent, ...semantic(POD_A) },
        points: [{ attributes: { cgroup: '/a' }, value: 10 }],
        self: false,
      });
      assert.deepEqual(seen[1], {
        resource: { ...agent, ...semantic(POD_B) },
        points: [{ attributes: { cgroup: '/b' }, value: 20 }],
        self: false,
      });
      // The node's series: the agent's (and the batch's) resource, no pod attributes.
      assert.deepEqual(seen[2]?.resource, agent);
      assert.deepEqual(seen[2]?.points, [
        { attributes: { cgroup: '/system.slice/cron.service' }, value: 30 },
      ]);
      // The agent's own metrics have no batch resource: the agent's resource alone.
      const self = await receiver.waitForCalls(4);
      const selfResource = attributesOf(self[3]?.request.resourceMetrics?.[0]?.resource?.attributes);
      assert.equal(selfResource['k8s.cluster.name'], undefined);
      assert.equal(selfResource['k8s.pod.name'], undefined);
      assert.ok(receiver.metricsOf(self[3] as ReceivedExport).some((m) => m.name === 'receiver_data_points'));
    } finally {
      await exporter.shutdown();
      await receiver.close();
    }
  });
}
