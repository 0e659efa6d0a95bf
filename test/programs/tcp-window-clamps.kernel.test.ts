import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectedHook, supportedHooks } from '../helpers/kernel-features.ts';
import { assertHookChoice, freePort, runPython, scalarValue, startProgram } from '../helpers/program-run.ts';

const PREFERENCE = ['fentry', 'kprobe', 'tp_btf'];

/**
 * A loopback connection with a fast non-blocking sender and a slow reader
 * (1 KiB every 5 ms, 100 rounds: counted in rounds, not seconds, so a loaded
 * machine that runs fewer rounds a second does not see fewer segments). With argv[2] > 0 the listener (and so the
 * accepted socket) gets that SO_RCVBUF before listen(): its receive window
 * starts, and stays, far below 32 KiB. Prints bytes sent and received.
 */
const SLOW_READER = `
import socket, sys, time
port, rcvbuf = int(sys.argv[1]), int(sys.argv[2])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if rcvbuf:
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
ls.bind(('127.0.0.1', port))
ls.listen(1)
c = socket.create_connection(('127.0.0.1', port))
s = ls.accept()[0]
c.setblocking(False)
s.setblocking(False)
chunk = b'w' * 65536
sent = received = 0
for _ in range(100):
    try:
        sent += c.send(chunk)
    except BlockingIOError:
        pass
    try:
        received += len(s.recv(1024))
    except BlockingIOError:
        pass
    time.sleep(0.005)
for x in (c, s, ls):
    x.close()
print(sent, received)
`;

const expected = expectedHook(PREFERENCE);

// Every hook set: the one this kernel prefers by default, the others it supports by `hooks: [...]`.
for (const hook of PREFERENCE) {
  // tcp_try_rmem_schedule has no tracepoint: the tp_btf set samples per received segment, under its own name.
  const metric = hook === 'tp_btf' ? 'tcp_low_receive_window_segments_total' : 'tcp_window_clamps_total';
  const other = hook === 'tp_btf' ? 'tcp_window_clamps_total' : 'tcp_low_receive_window_segments_total';
  const forced = hook !== expected;
  const skip = forced && !supportedHooks().has(hook) ? `this kernel has no ${hook}` : false;
  test(
    `tcp-window-clamps via ${hook}${forced ? ' (forced)' : ''}: a 4 KiB SO_RCVBUF receiver behind a fast sender counts in ${metric}; a default receiver does not`,
    { skip },
    async () => {
      const port = await freePort();
      const run = await startProgram('tcp-window-clamps', {
        ...(forced ? { hooks: [hook] } : {}),
        globals: { filter_port: port },
      });
      try {
        if (forced) assert.equal(run.receiver.hook, hook);
        else assertHookChoice(run, PREFERENCE, expected);
        const start = await run.collect();
        assert.equal(
          start.find((f) => f.name === other),
          undefined,
          `${other} belongs to the other hook sets and is not exported`,
        );
        const v0 = scalarValue(start, metric);
        assert.equal(v0, 0, `${metric} exported, nothing counted yet for port ${port}`);

        // Control: default receive buffer on loopback; rcv_ssthresh stays ≥ 64 KiB.
        const [control] = await runPython(SLOW_READER, [String(port), '0']);
        const v1 = scalarValue(await run.collect(), metric);
        assert.equal(v1, 0, `default buffers are never clamped below 32 KiB (sent, received: ${control})`);

        const [tiny] = await runPython(SLOW_READER, [String(port), '4096']);
        const v2 = scalarValue(await run.collect(), metric) ?? 0;
        const [sent, received] = (tiny ?? '').split(' ').map(Number);
        assert.ok((received ?? 0) > 0 && (sent ?? 0) > (received ?? 0), `the reader lagged: ${tiny}`);
        // tcp_probe sampled 29–32 clamped segments per run on 6.18; tcp_try_rmem_schedule runs only on
        // the slow receive path, so the fentry/kprobe count is only known to be non-zero.
        const least = hook === 'tp_btf' ? 10 : 1;
        assert.ok(v2 >= least, `a 4 KiB receive buffer is clamped: ${metric} = ${v2} < ${least}`);
      } finally {
        await run.close();
      }
    },
  );
}
