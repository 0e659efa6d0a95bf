import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from './config.ts';

test('defaults', () => {
  const c = configSchema.parse({});
  assert.equal(c.auth_type, 'serviceAccount');
  assert.equal(c.pod_uid_label, 'k8s_pod_uid');
  assert.equal(c.container_id_label, 'container_id');
  assert.equal(c.pending_timeout, 5_000);
  assert.deepEqual(c.extract, { labels: [], annotations: [] });
});

test('auth_type none needs an endpoint; tag names must be label names', () => {
  const r = configSchema.safeParse({
    auth_type: 'none',
    extract: { labels: [{ key: 'app', tag_name: 'a-b' }] },
  });
  assert.equal(r.success, false);
  const paths = r.error?.issues.map((i) => i.path.join('.')).sort();
  assert.deepEqual(paths, ['endpoint', 'extract.labels.0.tag_name']);
});

test('liveness_timeout is at least 2 s: the watch is asked to end at 90 % of it in whole seconds, before the deadline', () => {
  assert.equal(configSchema.safeParse({ liveness_timeout: '1s' }).success, false);
  assert.equal(configSchema.parse({ liveness_timeout: '2s' }).liveness_timeout, 2_000);
});
