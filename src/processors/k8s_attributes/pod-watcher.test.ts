import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { FakeKubeApi, fakePod } from '../../../test/helpers/fake-kube-api.ts';
import { plainConnection } from './connection.ts';
import type { Pod } from './pod-index.ts';
import { MAX_EVENT_BYTES, PodWatcher, type PodWatcherOptions } from './pod-watcher.ts';

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
  const { w, synced } = watcher(api);
  const lists = () => api.lists.length;
  try {
    api.failWith = 503; // an API server still starting
    w.start();
    await api.until(() => lists() >= 7, 10_000, '7 failing lists');
    const failing = gaps(api.listTimes, 0).slice(0, 6);
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
    const again = gaps(api.listTimes, from + 1);
    assert.ok(
      (again[0] ?? Infinity) < MAX_MS / 2,
      `first retry after ${again[0]} ms: the backoff started over`,
    );
  } finally {
    await w.stop();
    await api.close();
  }
});

test('an API that lists but ends every watch at once keeps backing off (no reset without a healthy watch)', async () => {
  const api = new FakeKubeApi();
  await api.listen();
  const { w } = watcher(api);
  try {
    api.endWatchesAtOnce = true;
    w.start();
    await api.until(() => api.lists.length >= 6, 10_000, '6 lists');
    const g = gaps(api.listTimes, 0);
    for (const [i, want] of [50, 100, 200, 400].entries())
      assert.ok((g[i] ?? 0) >= want - 5, `gap ${i}: ${g[i]} ms (${JSON.stringify(g)})`);
  } finally {
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

test('a watch stream that never ends its event line is cut at MAX_EVENT_BYTES, not buffered on', async () => {
  const api = new FakeKubeApi();
  await api.listen();
  // A server in front of the fake that answers watches with endless bytes and no newline.
  let sent = 0;
  const broken = http.createServer((req, res) => {
    if (!req.url?.includes('watch=1')) {
      const upstream = http.get(`${api.url}${req.url ?? '/'}`, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const pump = () => {
      while (!res.destroyed && sent < 4 * MAX_EVENT_BYTES && res.write(chunk)) sent += chunk.length;
      if (!res.destroyed && sent < 4 * MAX_EVENT_BYTES) res.once('drain', pump);
    };
    pump();
  });
  await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
  let lastError = '';
  const { w } = watcher(api, {
    connection: () => plainConnection(url),
    onState: (_s, e) => {
      if (e) lastError = e;
    },
  });
  try {
    w.start();
    await api.until(() => lastError.includes('no end of event'), 30_000, 'the stream cut');
    assert.ok(sent < 3 * MAX_EVENT_BYTES, `${sent} bytes sent before the cut`);
    assert.equal(w.currentState, 'unavailable');
  } finally {
    await w.stop();
    broken.closeAllConnections();
    await new Promise((r) => broken.close(r));
    await api.close();
  }
});
