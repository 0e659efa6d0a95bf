import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { expectedHook, supportedHooks } from '../helpers/kernel-features.ts';
import { histogramPoints, pointWith, startProgram } from '../helpers/program-run.ts';

const PREFERENCE = ['kprobe', 'tp_btf', 'tracepoint'];
const CONNECTIONS = 3;
const POLL_MS = 10_000;

/** A listener on `host`, port 0, that has accepted CONNECTIONS connections (Node accepts with accept4()). */
async function busyListener(host: string): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((s) => s.destroy());
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  for (let i = 0; i < CONNECTIONS; i++) {
    const accepted = once(server, 'connection');
    const client = net.connect(port, host);
    await once(client, 'connect');
    await accepted;
    client.destroy();
  }
  return { server, port };
}

const expected = expectedHook(PREFERENCE);

for (const hook of PREFERENCE) {
  const metric = hook === 'kprobe' ? 'accept_latency_seconds' : 'accept_queue_wait_seconds';
  const forced = hook !== expected;
  const skip = forced && !supportedHooks().has(hook) ? `this kernel has no ${hook}` : false;
  test(
    `accept-latency via ${hook}${forced ? ' (forced)' : ''}: a closed listener's port leaves ${metric} (keys deleted in the kernel), another listener's port stays`,
    { skip },
    async () => {
      const run = await startProgram('accept-latency', forced ? { hooks: [hook] } : {});
      const gone = await busyListener('127.0.0.1');
      const kept = await busyListener('::1');
      try {
        const port = (p: number) => ({ port: String(p) });
        const seen = await run.collect();
        for (const l of [gone, kept]) {
          const p = pointWith(histogramPoints(seen, metric), port(l.port));
          assert.equal(p?.count, CONNECTIONS, `port ${l.port}: ${CONNECTIONS} accepts`);
        }
        gone.server.close();
        await once(gone.server, 'close');
        const deadline = Date.now() + POLL_MS;
        let after = await run.collect();
        while (pointWith(histogramPoints(after, metric), port(gone.port)) && Date.now() < deadline) {
          await sleep(100);
          after = await run.collect();
        }
        assert.equal(
          pointWith(histogramPoints(after, metric), port(gone.port)),
          undefined,
          `port ${gone.port}'s series gone within ${POLL_MS} ms of its listener closing`,
        );
        const stays = pointWith(histogramPoints(after, metric), port(kept.port));
        assert.equal(stays?.count, CONNECTIONS, `port ${kept.port}, still listening, keeps its series`);
      } finally {
        gone.server.close();
        kept.server.close();
        await run.close();
      }
    },
  );
}
