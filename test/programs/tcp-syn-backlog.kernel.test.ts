import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectedHook, supportedHooks } from '../helpers/kernel-features.ts';
import {
  assertHookChoice,
  bucketGrowth,
  freePort,
  histogramPoints,
  runPython,
  startProgram,
} from '../helpers/program-run.ts';

const PREFERENCE = ['kprobe', 'tp_btf', 'tracepoint'];
const CONNECTIONS = 60;

/**
 * A loopback listener on the given port (listen backlog 128) that accepts
 * nothing until CONNECTIONS clients have connected: the n-th handshake finds
 * n - 1 children queued. Then it accepts them all.
 */
const DELAYED_ACCEPT = `
import socket, sys, time
port, k, family = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
fam, host = (socket.AF_INET6, '::1') if family == '6' else (socket.AF_INET, '127.0.0.1')
ls = socket.socket(fam, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, port))
ls.listen(128)
clients = [socket.create_connection((host, port)) for _ in range(k)]
time.sleep(0.05)
accepted = [ls.accept()[0] for _ in range(k)]
for s in accepted + clients:
    s.close()
ls.close()
`;

const expected = expectedHook(PREFERENCE);

// Every hook set: the one this kernel prefers by default, the others it supports by `hooks: [...]`.
for (const hook of PREFERENCE) {
  const forced = hook !== expected;
  const skip = forced && !supportedHooks().has(hook) ? `this kernel has no ${hook}` : false;
  for (const family of ['4', '6']) {
    test(
      `tcp-syn-backlog via ${hook}${forced ? ' (forced)' : ''}, IPv${family}: ${CONNECTIONS} queued connections sample backlogs 0..${CONNECTIONS - 1}: 50 in the first bucket, 10 in the second`,
      { skip },
      async () => {
        const port = await freePort();
        // filter_port keeps other listeners on the machine out of the exact counts.
        const run = await startProgram('tcp-syn-backlog', {
          ...(forced ? { hooks: [hook] } : {}),
          globals: { filter_port: port },
        });
        try {
          if (forced) assert.equal(run.receiver.hook, hook);
          else assertHookChoice(run, PREFERENCE, expected);
          const before = histogramPoints(await run.collect(), 'tcp_syn_backlog')[0];
          await runPython(DELAYED_ACCEPT, [String(port), String(CONNECTIONS), family]);
          const after = histogramPoints(await run.collect(), 'tcp_syn_backlog')[0];
          assert.ok(after, 'tcp_syn_backlog is exported');
          // Linear buckets of 50 (ebpf_exporter's layout): le=0 holds backlogs 0..49, le=50 holds 50..99.
          assert.deepEqual(after.boundaries.slice(0, 3), [0, 50, 100]);
          const growth = bucketGrowth(before, after);
          assert.deepEqual(growth.slice(0, 3), [50, 10, 0], JSON.stringify(growth));
          assert.equal(after.count - (before?.count ?? 0), CONNECTIONS);
        } finally {
          await run.close();
        }
      },
    );
  }
}
