/**
 * Counter slots on the real kernel (bpf/include/maps.bpf.h increment_slot, test/bpf/counter_slots):
 * 16 keys through 4 slots, so some keys count in a slot and the rest (key 0 always) in the
 * hash map; the metric, defined twice with the same name (slots: `key:` in the value), is
 * exactly the calls made, one series per key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { ScalarPoint } from '../../pipeline/data.ts';
import { ebpfReceiverFactory } from './factory.ts';
import { configSchema } from './config.ts';
import type { EbpfReceiver } from './receiver.ts';
import { testHost } from '../../../test/helpers/host.ts';
import { collectOnce } from '../../../test/helpers/program-run.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const logger = pino({ level: 'silent' });
/** Never-opened fds: each write(2) fails with EBADF, after the tracepoint saw it. */
const FIRST_FD = 1000;

test('counter slots and their hash map are one metric: every key exactly its calls, 4 slots for 16 keys', async () => {
  const r = (await ebpfReceiverFactory.create(
    { id: 'ebpf/test', logger, configDir: root },
    configSchema.parse({
      program: join(root, 'build', 'bpf', 'counter_slots.bpf.o'),
      metrics_file: 'test/bpf/counter_slots.yaml',
      globals: { targ_tgid: process.pid, targ_fd: FIRST_FD },
      poll_interval: '1h',
    }),
  )) as EbpfReceiver;
  await r.start(testHost());
  try {
    for (let k = 0; k < 16; k++)
      for (let n = 0; n <= k; n++)
        assert.throws(() => writeSync(FIRST_FD + k, Buffer.from('x')), { code: 'EBADF' });
    const families = await collectOnce(r);
    const writes = families.filter((f) => f.name === 'writes_total');
    assert.equal(writes.length, 1, 'one family');
    const got = Object.fromEntries(
      (writes[0]?.points as ScalarPoint[]).map((p) => [p.labels['fd'] as string, p.value]),
    );
    const want = Object.fromEntries(Array.from({ length: 16 }, (_, k) => [String(k), k + 1]));
    assert.deepEqual(got, want);
    // Both maps hold keys: the four slots are taken, the other keys are in the hash map.
    const dump = r.dumpMaps();
    const entries = (map: string): number =>
      (dump.split(`### Map: ${map} `)[1]?.split('```')[1]?.trim().split('\n') ?? []).length;
    assert.equal(entries('write_slots'), 4, dump);
    assert.equal(entries('writes_total'), 12, dump);
  } finally {
    await r.shutdown();
  }
});
