import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { FakeKubeApi, fakePod } from '../../../test/helpers/fake-kube-api.ts';
import { plainConnection } from './connection.ts';
import type { Pod } from './pod-index.ts';
import { PodWatcher, type PodWatcherOptions } from './pod-watcher.ts';

const INITIAL_MS = 50;
const MAX_MS = 1_000;

function watcher(api: FakeKubeApi, extra: Partial<PodWatcherOptions> = {}) {
  const pods = new Map<string, Pod>();
  let synced = 0;
  const w = new PodWatcher({
    connection: () => plainConnection(api.url),
    nodeName: 'node-a',
    store: {
      replace: (list) => {
        pods.clear();
        for (const p of list) pods.set(p.metadata?.uid ?? '', p);
      },
      upsert: (p) => void pods.set(p.metadata?.uid ?? '', p),
      remove: (p) => void pods.delete(p.metadata?.uid ?? ''),
    },
    livenessMs: 5_000,
    requestTimeoutMs: 2_000,
    backoffInitialMs: INITIAL_MS,
    backoffMaxMs: MAX_MS,
    random: () => 1, // no jitter: the delays are exactly initial × 2^n, capped
    onSynced: () => void synced++,
    ...extra,
  });
  return { w, pods, synced: () => synced };
}

/** Gaps between successive list requests from index `from` on (ms, as the server saw them). */
function gaps(times: readonly number[], from: number): number[] {
  return times.slice(from + 1).map((t, i) => t - (times[from + i] as number));
}

test('re-list backoff doubles to its cap while the API fails, and starts over after a healthy backoff_max', async () => {
  const api = new FakeKubeApi();
  await api.listen();
  const listTimes: number[] = [];
  const { w, synced } = watcher(api);
  const lists = () => api.lists.length;
  const poll = setInterval(() => {
    while (listTimes.length < lists()) listTimes.push(Date.now());
  }, 1);
  try {
    api.failWith = 503; // an API server still starting
    w.start();
    await api.until(() => lists() >= 7, 10_000, '7 failing lists');
    const failing = gaps(listTimes, 0).slice(0, 6);
    // Never earlier than the backoff (timers may be late, never early): 50, 100, 200, 400, 800, 1000 (cap).
    const want = [50, 100, 200, 400, 800, 1000];
    for (const [i, g] of failing.entries()) assert.ok(g >= (want[i] as number) - 5, `gap ${i}: ${g} ms`);
    assert.equal(w.currentState, 'unavailable');
    api.failWith = undefined;
    api.add(fakePod('u1', 'a'));
    await api.until(() => w.currentState === 'live', 5_000, 'live');
    assert.ok(synced() >= 1, 'the list counts as a sync');
    // Healthy for longer than backoff_max (watches answered, no event), then failing again.
    await delay(MAX_MS + 200);
    const from = lists() - 1;
    api.failWith = 503;
    api.expireWatches(); // end the open watch: the next request is a list, failed
    await api.until(() => lists() >= from + 3, 10_000, 'failing again');
    const again = gaps(listTimes, from + 1);
    assert.ok(
      (again[0] ?? Infinity) < MAX_MS / 2,
      `first retry after ${again[0]} ms: the backoff started over`,
    );
  } finally {
    clearInterval(poll);
    await w.stop();
    await api.close();
  }
});

test('an API that lists but ends every watch at once keeps backing off (no reset without a healthy watch)', async () => {
  const api = new FakeKubeApi();
  await api.listen();
  const listTimes: number[] = [];
  const poll = setInterval(() => {
    while (listTimes.length < api.lists.length) listTimes.push(Date.now());
  }, 1);
  const { w } = watcher(api);
  try {
    api.endWatchesAtOnce = true;
    w.start();
    await api.until(() => api.lists.length >= 6, 10_000, '6 lists');
    const g = gaps(listTimes, 0);
    for (const [i, want] of [50, 100, 200, 400].entries())
      assert.ok((g[i] ?? 0) >= want - 5, `gap ${i}: ${g[i]} ms (${JSON.stringify(g)})`);
  } finally {
    clearInterval(poll);
    await w.stop();
    await api.close();
  }
});

test('a stalled watch and an API that answers nothing: both end in a re-list, never a hang', async () => {
  const api = new FakeKubeApi();
  await api.listen();
  const { w, pods } = watcher(api, { livenessMs: 2_000, requestTimeoutMs: 300 });
  try {
    w.start();
    await api.until(() => w.currentState === 'live', 5_000, 'live');
    api.stallWatches = true;
    await delay(50);
    api.add(fakePod('u2', 'b')); // not delivered: the watch is stalled
    await api.until(() => pods.has('u2'), 5_000, 'u2 through the liveness re-list');
    api.stallWatches = false;
    api.answerNothing = true;
    api.expireWatches();
    await api.until(() => w.currentState === 'unavailable', 5_000, 'list timed out');
    api.answerNothing = false;
    api.add(fakePod('u3', 'c'));
    await api.until(() => w.currentState === 'live' && pods.has('u3'), 5_000, 'back');
  } finally {
    await w.stop();
    await api.close();
  }
});
