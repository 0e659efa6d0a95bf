import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PodIndex, type Pod } from './pod-index.ts';

const pod: Pod = {
  metadata: { uid: 'ABCD-1', name: 'p', namespace: 'ns', labels: { app: 'x' } },
  spec: { nodeName: 'n' },
  status: {
    containerStatuses: [
      {
        name: 'main',
        containerID: 'cri-o://NEW',
        lastState: { terminated: { containerID: 'cri-o://old' } },
      },
    ],
    initContainerStatuses: [{ name: 'init', containerID: 'containerd://init1' }],
  },
};

test('matches by uid as a cgroup path spells it, and by current, restarted and init container ids', () => {
  const index = new PodIndex({ labels: [{ key: 'app', tag_name: 'app' }], annotations: [] }, 0);
  index.upsert(pod);
  assert.deepEqual(index.find('abcd_1', undefined)?.pod, [
    ['k8s_pod_name', 'p'],
    ['k8s_namespace_name', 'ns'],
    ['k8s_node_name', 'n'],
    ['app', 'x'],
  ]);
  assert.equal(index.find(undefined, 'new')?.containerName, 'main');
  assert.equal(index.find(undefined, 'old')?.containerName, 'main');
  assert.equal(index.find('abcd-1', 'init1')?.containerName, 'init');
  assert.equal(index.find(undefined, 'other'), undefined);
});

test('a re-list deletes the pods it lacks after the grace period; then they are forgotten', () => {
  let now = 0;
  const index = new PodIndex({ labels: [], annotations: [] }, 1_000, () => now);
  index.upsert(pod);
  index.replace([]);
  now = 999;
  assert.ok(index.find('abcd-1', undefined));
  now = 1_000;
  assert.equal(index.find('abcd-1', undefined), undefined);
  assert.equal(index.isForgotten('abcd-1', undefined), true);
  assert.equal(index.isForgotten(undefined, 'new'), true);
  assert.equal(index.size, 0);
  index.upsert(pod);
  assert.equal(index.isForgotten('abcd-1', undefined), false, 'a pod that comes back is known again');
});
