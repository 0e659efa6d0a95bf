import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject } from 'rxjs';
import { pino } from 'pino';
import type { MetricBatch } from '../../pipeline/data.ts';
import { SelfTelemetry } from '../../pipeline/telemetry.ts';
import { FakeKubeApi, fakePod } from '../../../test/helpers/fake-kube-api.ts';
import { configSchema } from './config.ts';
import { K8sAttributesProcessor } from './processor.ts';
import { testHost } from '../../../test/helpers/host.ts';

const logger = pino({ level: 'silent' });

interface Rig {
  api: FakeKubeApi;
  proc: K8sAttributesProcessor;
  telemetry: SelfTelemetry;
  input: Subject<MetricBatch>;
  out: MetricBatch[];
  [Symbol.asyncDispose](): Promise<void>;
}

async function rig(overrides: Record<string, unknown> = {}): Promise<Rig> {
  const api = new FakeKubeApi();
  await api.listen();
  const config = configSchema.parse({
    auth_type: 'none',
    endpoint: api.url,
    pending_timeout: '300ms',
    liveness_timeout: '2s',
    backoff_initial: '20ms',
    backoff_max: '100ms',
    extract: {
      labels: [{ key: 'app', tag_name: 'app' }],
      annotations: [{ key: 'team.example.com/owner', tag_name: 'owner' }],
    },
    ...overrides,
  });
  const proc = new K8sAttributesProcessor(config, 'node-a', logger);
  const telemetry = new SelfTelemetry();
  const host = testHost({ logger, telemetry });
  const input = new Subject<MetricBatch>();
  const out: MetricBatch[] = [];
  const sub = input.pipe(proc.operator).subscribe((b) => out.push(b));
  await proc.start(host);
  return {
    api,
    proc,
    telemetry,
    input,
    out,
    async [Symbol.asyncDispose]() {
      sub.unsubscribe();
      await proc.shutdown();
      await api.close();
    },
  };
}

/** One counter family, one point per pod uid (and container id). */
function batch(points: { uid?: string; cid?: string; value?: number }[]): MetricBatch {
  return {
    source: 'ebpf/test',
    config: 'test',
    timeMs: Date.now(),
    families: [
      {
        name: 'cpu_seconds_total',
        help: '',
        kind: 'counter',
        startTimeMs: 0,
        points: points.map((p) => ({
          value: p.value ?? 1,
          labels: [
            ...(p.uid ? [{ name: 'k8s_pod_uid', value: p.uid, pending: [] }] : []),
            ...(p.cid ? [{ name: 'container_id', value: p.cid, pending: [] }] : []),
          ],
        })),
      },
    ],
  };
}

function labelsOf(b: MetricBatch | undefined): Record<string, string>[] {
  assert.ok(b, 'a batch was emitted');
  return (b.families[0]?.points ?? []).map((p) =>
    Object.fromEntries(p.labels.map((l) => [l.name, String(l.value)])),
  );
}

const UID_A = '0b6a1d2e-1111-4c4c-8a8a-000000000001';
const UID_B = '0b6a1d2e-2222-4c4c-8a8a-000000000002';
const CID_A = 'aa'.repeat(32);

test('lists then watches the node’s pods: field selector, resourceVersion, bookmarks', async () => {
  await using r = await rig();
  r.api.add(fakePod(UID_A, 'a', { node: 'node-a' }));
  r.api.add(fakePod(UID_B, 'b', { node: 'node-b' }));
  await r.api.until(() => r.api.watches.length > 0, 5000, 'a watch');
  const list = r.api.lists[0];
  assert.equal(list?.searchParams.get('fieldSelector'), 'spec.nodeName=node-a');
  const watch = r.api.watches[0];
  assert.equal(watch?.searchParams.get('fieldSelector'), 'spec.nodeName=node-a');
  assert.equal(watch?.searchParams.get('allowWatchBookmarks'), 'true');
  assert.ok(watch?.searchParams.get('resourceVersion'), 'watch from the list’s resourceVersion');
  await r.api.until(() => r.proc.index.find(UID_A, undefined) !== undefined, 5000, 'pod a');
  assert.equal(r.proc.index.find(UID_B, undefined), undefined, 'a pod of another node is not watched');
  r.api.bookmark();
  await r.api.until(
    () => r.telemetry.counter('k8s_watch_events_total', '').value({ type: 'BOOKMARK' }) === 1,
    5000,
    'a bookmark counted',
  );
  assert.equal(r.telemetry.counter('k8s_relists_total', '').value({ reason: 'initial' }), 1);
  // Watch health: live, and synced just now (the bookmark), on the metrics and on /status's details.
  const gauge = (name: string) => {
    const p = r.telemetry.snapshot().find((f) => f.name === name)?.points[0];
    return p && 'value' in p ? p.value : undefined;
  };
  assert.equal(gauge('k8s_watch_live'), 1);
  const lastSync = gauge('k8s_watch_last_sync_timestamp_seconds') ?? 0;
  assert.ok(Math.abs(lastSync - Date.now() / 1000) < 5, `last sync ${lastSync}`);
  assert.equal(r.proc.health().details?.['last_sync'], new Date(r.proc.lastSync ?? 0).toISOString());
});

test('pods added, updated and deleted while running are reflected in labels', async () => {
  await using r = await rig({ deleted_grace: '200ms' });
  r.api.add(
    fakePod(UID_A, 'web-1', {
      namespace: 'shop',
      labels: { app: 'web' },
      annotations: { 'team.example.com/owner': 'alice' },
      container: { name: 'nginx', id: CID_A },
    }),
  );
  await r.api.until(() => r.proc.watchState === 'live', 5000, 'live');
  r.input.next(batch([{ uid: UID_A, cid: CID_A }, {}]));
  assert.deepEqual(labelsOf(r.out.at(-1)), [
    {
      k8s_pod_uid: UID_A,
      container_id: CID_A,
      k8s_pod_name: 'web-1',
      k8s_namespace_name: 'shop',
      k8s_node_name: 'node-a',
      app: 'web',
      owner: 'alice',
      k8s_container_name: 'nginx',
    },
    {},
  ]);
  // Added while running; associated by container id alone.
  r.api.add(fakePod(UID_B, 'db-1', { container: { name: 'pg', id: 'bb'.repeat(32) } }));
  await r.api.until(() => r.proc.index.find(UID_B, undefined) !== undefined, 5000, 'pod b');
  r.input.next(batch([{ cid: `containerd://${'bb'.repeat(32)}` }]));
  assert.equal(labelsOf(r.out.at(-1))[0]?.['k8s_pod_name'], 'db-1');
  assert.equal(labelsOf(r.out.at(-1))[0]?.['k8s_container_name'], 'pg');
  // Updated: the new label value shows.
  r.api.update(fakePod(UID_A, 'web-1', { namespace: 'shop', labels: { app: 'web-v2' } }));
  await r.api.until(
    () => r.proc.index.find(UID_A, undefined)?.pod.some(([k, v]) => k === 'app' && v === 'web-v2') === true,
    5000,
    'update',
  );
  r.input.next(batch([{ uid: UID_A }]));
  assert.equal(labelsOf(r.out.at(-1))[0]?.['app'], 'web-v2');
  // Deleted: still labelled during the grace period, then forgotten.
  r.api.delete(UID_A);
  await r.api.until(
    () => r.telemetry.counter('k8s_watch_events_total', '').value({ type: 'DELETED' }) === 1,
    5000,
    'delete event',
  );
  r.input.next(batch([{ uid: UID_A }]));
  assert.equal(labelsOf(r.out.at(-1))[0]?.['k8s_pod_name'], 'web-1');
  await new Promise((res) => setTimeout(res, 250));
  assert.equal(r.proc.index.find(UID_A, undefined), undefined);
  // Past the grace period its late data passes at once, without pod labels (not held as early data).
  r.input.next(batch([{ uid: UID_A }]));
  assert.deepEqual(labelsOf(r.out.at(-1)), [{ k8s_pod_uid: UID_A }]);
});

test('data of a pod not yet known is held, then emitted labelled when the pod appears', async () => {
  await using r = await rig({ pending_timeout: '5s' });
  r.api.add(fakePod(UID_A, 'a'));
  await r.api.until(() => r.proc.watchState === 'live', 5000, 'live');
  r.input.next(
    batch([
      { uid: UID_A, value: 1 },
      { uid: UID_B, value: 2 },
    ]),
  );
  assert.equal(r.out.length, 1);
  assert.deepEqual(
    labelsOf(r.out[0]).map((l) => l['k8s_pod_name']),
    ['a'],
    'the known point is emitted, the unknown one held',
  );
  r.api.add(fakePod(UID_B, 'b'));
  await r.api.until(() => r.out.length === 2, 5000, 're-emitted batch');
  assert.deepEqual(
    labelsOf(r.out[1]).map((l) => l['k8s_pod_name']),
    ['a', 'b'],
  );
  assert.deepEqual(
    r.out[1]?.families[0]?.points.map((p) => p.value),
    [1, 2],
  );
});

test('held data passes without pod labels after pending_timeout, counted', async () => {
  await using r = await rig({ pending_timeout: '200ms' });
  await r.api.until(() => r.proc.watchState === 'live', 5000, 'live');
  r.input.next(batch([{ uid: UID_B }]));
  assert.deepEqual(labelsOf(r.out[0]), []);
  await r.api.until(() => r.out.length === 2, 5000, 'release at the timeout');
  assert.deepEqual(labelsOf(r.out[1]), [{ k8s_pod_uid: UID_B }]);
  assert.equal(r.telemetry.counter('k8s_pending_released_total', '').value({ reason: 'timeout' }), 1);
  // Given up on: the next batch is not held again.
  r.input.next(batch([{ uid: UID_B }]));
  assert.deepEqual(labelsOf(r.out[2]), [{ k8s_pod_uid: UID_B }]);
});

test('the API going away does not stop metrics; when it comes back the client re-lists', async () => {
  await using r = await rig();
  r.api.add(fakePod(UID_A, 'a'));
  await r.api.until(() => r.proc.watchState === 'live', 5000, 'live');
  assert.deepEqual([r.proc.health().ready, r.proc.health().problems], [true, []], 'healthy while live');
  await r.api.close();
  await r.api.until(() => r.proc.watchState === 'unavailable', 5000, 'unavailable');
  // A problem for /readyz (degraded), not unready: points still pass.
  const failing = r.proc.health();
  assert.equal(failing.ready, true);
  assert.equal(failing.problems.length, 1);
  assert.match(
    failing.problems[0] ?? '',
    /^Kubernetes pod watch failing since \d{4}-.*Z: .+; points pass with container labels only$/,
  );
  r.input.next(batch([{ uid: UID_A }, { uid: UID_B }]));
  assert.deepEqual(
    labelsOf(r.out.at(-1)).map((l) => [l['k8s_pod_uid'], l['k8s_pod_name']]),
    [
      [UID_A, 'a'],
      [UID_B, undefined],
    ],
    'cached pods keep their labels; unknown ones pass at once',
  );
  assert.equal(r.telemetry.counter('k8s_degraded_batches_total', '').value({}), 1);
  const listsBefore = r.api.lists.length;
  r.api.add(fakePod(UID_B, 'b'));
  await r.api.listen();
  await r.api.until(() => r.proc.watchState === 'live', 5000, 'live again');
  assert.ok(r.api.lists.length > listsBefore, 're-listed');
  assert.deepEqual(r.proc.health().problems, [], 'no problem once live again');
  assert.ok((r.telemetry.counter('k8s_relists_total', '').value({ reason: 'error' }) ?? 0) >= 1);
  r.input.next(batch([{ uid: UID_B }]));
  assert.equal(labelsOf(r.out.at(-1))[0]?.['k8s_pod_name'], 'b');
});

test('a 410 Gone ERROR event makes the client re-list', async () => {
  await using r = await rig();
  await r.api.until(() => r.api.watches.length === 1, 5000, 'a watch');
  r.api.expireWatches();
  await r.api.until(
    () => r.telemetry.counter('k8s_relists_total', '').value({ reason: 'gone' }) === 1,
    5000,
    'relist after 410',
  );
  r.api.add(fakePod(UID_A, 'a'));
  await r.api.until(() => r.proc.index.find(UID_A, undefined) !== undefined, 5000, 'pod after relist');
  assert.equal(r.telemetry.counter('k8s_watch_events_total', '').value({ type: 'ERROR' }), 1);
});

test('a silently stalled watch is abandoned at the liveness deadline and the pods re-listed', async () => {
  await using r = await rig({ liveness_timeout: '2s' });
  await r.api.until(() => r.proc.watchState === 'live', 5000, 'live');
  r.api.stallWatches = true;
  // The current watch may be ending at its timeout: the next one stalls.
  await r.api.until(
    () => r.telemetry.counter('k8s_relists_total', '').value({ reason: 'liveness' }) === 1,
    5000,
    'liveness relist',
  );
  r.api.stallWatches = false;
  r.api.add(fakePod(UID_A, 'a'));
  await r.api.until(() => r.proc.index.find(UID_A, undefined) !== undefined, 5000, 'pod after relist');
});

test('watches that end at once (API restarting) re-list with a bounded backoff, not a tight loop', async () => {
  await using r = await rig({ backoff_initial: '20ms', backoff_max: '100ms' });
  await r.api.until(() => r.proc.watchState === 'live', 5000, 'live');
  r.api.endWatchesAtOnce = true;
  r.api.expireWatches();
  const before = r.api.requests.length;
  await new Promise((res) => setTimeout(res, 1_000));
  const requests = r.api.requests.length - before;
  // Lists + watches: with the backoff at its 50..100 ms cap, about 30 in a second (thousands unbounded).
  assert.ok(requests > 2 && requests < 45, `${requests} requests in 1 s`);
  assert.ok((r.telemetry.counter('k8s_relists_total', '').value({ reason: 'error' }) ?? 0) >= 1);
});

test('no API reachable from the start: points pass with container labels only, one warning', async () => {
  const closed = new FakeKubeApi();
  await closed.listen();
  await closed.close(); // a port where nothing listens
  const lines: { msg?: string; level?: number }[] = [];
  const log = pino(
    { level: 'warn' },
    { write: (s: string) => void lines.push(JSON.parse(s) as { msg?: string; level?: number }) },
  );
  const config = configSchema.parse({
    auth_type: 'none',
    endpoint: closed.url,
    backoff_initial: '20ms',
    backoff_max: '50ms',
  });
  const proc = new K8sAttributesProcessor(config, 'node-a', log);
  const telemetry = new SelfTelemetry();
  const input = new Subject<MetricBatch>();
  const out: MetricBatch[] = [];
  const sub = input.pipe(proc.operator).subscribe((b) => out.push(b));
  try {
    // Data before the first attempt failed is held, then released when the API is found unreachable.
    input.next(batch([{ uid: UID_A, cid: CID_A }]));
    await proc.start(testHost({ logger: log, telemetry }));
    await closed.until(() => proc.watchState === 'unavailable', 5000, 'unavailable');
    await closed.until(() => out.length === 2, 5000, 'released');
    assert.deepEqual(labelsOf(out[1]), [{ k8s_pod_uid: UID_A, container_id: CID_A }]);
    await new Promise((res) => setTimeout(res, 200)); // several failed retries
    input.next(batch([{ uid: UID_A, cid: CID_A }]));
    input.next(batch([{ uid: UID_A, cid: CID_A }]));
    assert.deepEqual(labelsOf(out.at(-1)), [{ k8s_pod_uid: UID_A, container_id: CID_A }]);
    assert.ok((telemetry.counter('k8s_relists_total', '').value({ reason: 'error' }) ?? 0) >= 2);
    assert.equal(telemetry.counter('k8s_degraded_batches_total', '').value({}), 3);
    const warnings = lines.filter((l) => l.level === 40).map((l) => l.msg);
    assert.deepEqual(warnings, [
      'pod watch failed: retrying with backoff; known pods keep their labels',
      'Kubernetes API unavailable: points pass with their container labels only',
    ]);
  } finally {
    sub.unsubscribe();
    await proc.shutdown();
    await proc.shutdown(); // safe twice
  }
});
