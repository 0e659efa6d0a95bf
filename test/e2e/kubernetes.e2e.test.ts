import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findCgroup2Mount } from '../../src/kernel/cgroup-table.ts';
import { spawnInCgroup } from '../helpers/cgroup-child.ts';
import { FakeKubeApi, fakePod } from '../helpers/fake-kube-api.ts';
import { httpGet, samples, startAgent } from '../helpers/agent.ts';
import { attributesOf, startOtlpReceiver } from '../helpers/otlp-receiver.ts';

const METRIC = 'ebpf_exporter_libc_malloc_calls_total';
/** The same metric over OTLP: as defined, without the prometheus exporter's namespace. */
const OTLP_METRIC = 'libc_malloc_calls_total';

test('ebpf → cgroup → container → k8s_attributes: a live cgroup id becomes pod, namespace and container labels (Prometheus) and the pod resource (OTLP)', async () => {
  const root = findCgroup2Mount();
  assert.ok(root, 'no cgroup2 mount in /proc/self/mountinfo');
  // A container cgroup as kubelet's systemd driver lays it out, with containerd.
  const uid = randomUUID();
  const containerId = randomBytes(32).toString('hex');
  const dirs = [
    join(root, 'kubepods.slice'),
    join(root, 'kubepods.slice', 'kubepods-burstable.slice'),
    join(
      root,
      'kubepods.slice',
      'kubepods-burstable.slice',
      `kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice`,
    ),
  ];
  const leaf = join(dirs[2] as string, `cri-containerd-${containerId}.scope`);
  dirs.push(leaf);
  const created: string[] = [];
  for (const d of dirs) {
    try {
      mkdirSync(d);
      created.push(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const api = new FakeKubeApi();
  await api.listen();
  api.add(
    fakePod(uid, 'web-7d4b9', {
      namespace: 'shop',
      node: 'node-e2e',
      container: { name: 'nginx', id: containerId },
    }),
  );

  // A process inside the container cgroup that calls libc malloc on cue.
  const worker = await spawnInCgroup(leaf, [
    '-c',
    'import ctypes,sys\nlibc=ctypes.CDLL("libc.so.6")\nsys.stdin.readline()\nfor _ in range(5000): libc.free(libc.malloc(64))\nsys.stdin.readline()\n',
  ]);

  const receiver = await startOtlpReceiver();
  const dir = mkdtempSync(join(tmpdir(), 'k8s-e2e-'));
  const pipeline = join(dir, 'pipeline.yaml');
  writeFileSync(
    pipeline,
    `receivers:
  ebpf/uprobe:
    program: uprobe
processors:
  cgroup: {}
  container: {}
  k8s_attributes:
    auth_type: none
    endpoint: ${api.url}
    node_name: node-e2e
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
  otlp:
    endpoint: http://${receiver.endpoint}
    interval: 200ms
service:
  pipelines:
    metrics:
      receivers: [ebpf/uprobe]
      processors: [cgroup, container, k8s_attributes]
      exporters: [prometheus, otlp]
`,
  );
  const agent = await startAgent([pipeline]);
  try {
    worker.send('go\n');
    let series: { labels: Record<string, string>; value: number } | undefined;
    for (let i = 0; i < 40 && !series; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const { body } = await httpGet(agent.port, '/metrics');
      series = samples(body, METRIC).find((s) => s.labels['cgroup'] === leaf && s.value >= 5000);
    }
    assert.ok(series, `no series for ${leaf} with ≥ 5000 calls`);
    assert.equal(statSync(leaf).ino > 0, true);
    assert.equal(series.labels['container_id'], containerId);
    assert.equal(series.labels['container_runtime'], 'containerd');
    assert.equal(series.labels['k8s_pod_uid'], uid);
    assert.equal(series.labels['k8s_pod_qos'], 'burstable');
    assert.equal(series.labels['k8s_pod_name'], 'web-7d4b9');
    assert.equal(series.labels['k8s_namespace_name'], 'shop');
    assert.equal(series.labels['k8s_node_name'], 'node-e2e');
    assert.equal(series.labels['k8s_container_name'], 'nginx');
    assert.ok(api.requests.some((u) => u.searchParams.get('fieldSelector') === 'spec.nodeName=node-e2e'));

    // OTLP: the same series under a resource of its own, as the Collector's k8sattributes
    // processor would put it, with no pod attribute left on the point.
    let pod: { resource: Record<string, string>; points: Record<string, string>[] } | undefined;
    for (let i = 0; i < 40 && !pod; i++) {
      for (const call of receiver.calls)
        for (const rm of call.request.resourceMetrics ?? []) {
          const resource = attributesOf(rm.resource?.attributes);
          if (resource['k8s.pod.uid'] !== uid) continue;
          const points = (rm.scopeMetrics ?? [])
            .flatMap((sm) => sm.metrics ?? [])
            .filter((m) => m.name === OTLP_METRIC)
            .flatMap((m) => m.sum?.dataPoints ?? [])
            .map((p) => attributesOf(p.attributes));
          if (points.some((p) => p['cgroup'] === leaf)) pod = { resource, points };
        }
      if (!pod) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(pod, `no ResourceMetrics with k8s.pod.uid=${uid} carrying ${OTLP_METRIC}`);
    assert.equal(pod.resource['k8s.pod.name'], 'web-7d4b9');
    assert.equal(pod.resource['k8s.namespace.name'], 'shop');
    assert.equal(pod.resource['k8s.node.name'], 'node-e2e');
    assert.equal(pod.resource['k8s.container.name'], 'nginx');
    assert.equal(pod.resource['k8s.pod.qos'], 'burstable');
    assert.equal(pod.resource['container.id'], containerId);
    assert.equal(pod.resource['container.runtime'], 'containerd');
    assert.equal(pod.resource['service.name'], 'ebpf-collector');
    for (const p of pod.points) {
      assert.equal(p['cgroup'], leaf, 'only this pod’s series under its resource');
      for (const k of Object.keys(p))
        assert.ok(!/^(k8s[._]|container[._])/.test(k), `${k} left on the point`);
    }
    // Node-level series (the agent's own metrics) under a resource without pod attributes;
    // a collection sends its resources one request after another, so it may still be coming.
    const selfResource = ():
      NonNullable<(typeof receiver.calls)[number]['request']['resourceMetrics']>[number] | undefined =>
      receiver.calls
        .flatMap((c) => c.request.resourceMetrics ?? [])
        .find((rm) =>
          (rm.scopeMetrics ?? []).some((sm) =>
            (sm.metrics ?? []).some((m) => m.name === 'receiver_data_points'),
          ),
        );
    let node = selfResource();
    for (let i = 0; i < 40 && !node; i++) {
      await new Promise((r) => setTimeout(r, 250));
      node = selfResource();
    }
    assert.ok(node, 'no ResourceMetrics with the agent’s own metrics');
    const nodeResource = attributesOf(node.resource?.attributes);
    assert.equal(nodeResource['service.name'], 'ebpf-collector');
    assert.equal(nodeResource['k8s.pod.uid'], undefined);
    assert.equal(nodeResource['container.id'], undefined);
  } finally {
    await worker.finish();
    assert.equal(await agent.stop(), 0, agent.logs.join('\n'));
    await api.close();
    await receiver.close();
    for (const d of created.reverse()) rmdirSync(d);
  }
});
