/**
 * Maps that fill (issue 18), on the real kernel and the real cgroup2 mount:
 *
 * - A forced full map: test/bpf/tiny_map.bpf.c counts getpid(2) by thread in a 4-entry hash,
 *   and every call in a second counter; 10 processes in a test cgroup call it. The receiver's
 *   `map_update_failures_total{map}` (read from maps.bpf.h's map) equals seen − counted, exactly.
 * - Dead cgroups: the shipped `uprobe` program (libc malloc by cgroup id, a 4,096-entry hash)
 *   while 5,000 cgroups come and go; the receiver deletes their keys once they are gone, so a
 *   new cgroup made after is still counted and no update failed.
 *
 * Needs root, a writable cgroup2 mount (found in /proc/self/mountinfo), tracefs, python3 and
 * build/bpf (`make -C bpf`). Every cgroup made here is removed in `finally`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { acquireTable } from '../../src/kernel/cgroup-table-lease.ts';
import { CGROUP_TABLE_DEFAULTS, findCgroup2Mount } from '../../src/kernel/cgroup-table.ts';
import type { RawPoint } from '../../src/pipeline/data.ts';
import type { SelfTelemetry } from '../../src/pipeline/telemetry.ts';
import { configSchema as ebpfConfig } from '../../src/receivers/ebpf/config.ts';
import { ebpfReceiverFactory } from '../../src/receivers/ebpf/factory.ts';
import type { EbpfReceiver } from '../../src/receivers/ebpf/receiver.ts';
import { host, ino, logger, removeTree, skipReason, sleep } from './helpers.ts';
import { runInCgroup } from '../helpers/cgroup-child.ts';
import { batchOnce } from '../helpers/program-run.ts';
import { until } from '../helpers/until.ts';

const repo = join(import.meta.dirname, '..', '..');
const mount = findCgroup2Mount();
const skip = skipReason(mount, 'cgroup2 mount');
const CHURN = Number(process.env['MAP_CHURN_TOTAL'] ?? 5_000);

async function receiverFor(id: string, raw: Record<string, unknown>): Promise<EbpfReceiver> {
  return (await ebpfReceiverFactory.create(
    { id, logger, configDir: repo },
    ebpfConfig.parse({ poll_interval: '1h', ...raw }),
  )) as EbpfReceiver;
}

/** One read through the receiver: the points of `metric`, by their first label's raw value. */
async function read(receiver: EbpfReceiver, metric: string): Promise<Map<string, number>> {
  const family = (await batchOnce(receiver)).families.find((f) => f.name === metric);
  assert.ok(family, `no family ${metric}`);
  const out = new Map<string, number>();
  for (const p of family.points as RawPoint[]) out.set(String(p.labels[0]?.value ?? ''), p.value);
  return out;
}

const selfValue = (t: SelfTelemetry, name: string, labels: Record<string, string>): number | undefined =>
  t.counter(name, '').value(labels);

test(
  'a full map: every failed update is counted in the kernel, exactly',
  { skip, timeout: 120_000 },
  async (t) => {
    const obj = join(repo, 'build', 'bpf', 'tiny_map.bpf.o');
    assert.ok(existsSync(obj), `${obj} is missing: run make -C bpf`);
    const dir = join(mount as string, `ebpf-collector-mapfull-${process.pid}`);
    mkdirSync(dir);
    const h = host();
    const receiver = await receiverFor('ebpf/tiny', {
      program: obj,
      metrics_file: 'test/bpf/tiny_map.yaml',
      globals: { targ_cgroup: Number(ino(dir)) },
    });
    try {
      await receiver.start(h);
      const labels = { config: receiver.configName, map: 'tiny_getpid_calls_total' };
      assert.equal(
        selfValue(h.telemetry, 'map_update_failures_total', labels),
        0,
        'the series exists from start',
      );
      const script = 'import os, sys\nsys.stdin.read(1)\nfor _ in range(5): os.getpid()\n';
      for (let i = 0; i < 10; i++) await runInCgroup(dir, script);
      const byTid = await read(receiver, 'tiny_getpid_calls_total');
      const seen = (await read(receiver, 'tiny_calls_seen_total')).get('') ?? 0;
      const counted = [...byTid.values()].reduce((a, b) => a + b, 0);
      const failures = selfValue(h.telemetry, 'map_update_failures_total', labels) ?? -1;
      t.diagnostic(
        `tiny map: ${seen} calls seen, ${counted} counted in ${byTid.size} keys, ${failures} failed updates`,
      );
      assert.equal(byTid.size, 4, 'the map is full');
      assert.ok(seen >= 50, `each of 10 processes called getpid at least 5 times (seen ${seen})`);
      assert.ok(failures > 0, 'failures were counted');
      assert.equal(counted + failures, seen, 'seen = counted + failed updates');
    } finally {
      await receiver.shutdown();
      await removeTree(dir);
    }
  },
);

/**
 * One python process that makes cgroups, moves itself into each, allocates (libc malloc,
 * which the uprobe counts), moves back and removes it; per command line `churn N`, prints the
 * N ids. `new NAME` makes one and stays in it (prints its id), `rm NAME` leaves and removes it.
 */
const WORKER = `
import os, sys
root = sys.argv[1]
def enter(d):
    with open(os.path.join(d, 'cgroup.procs'), 'w') as f: f.write(str(os.getpid()))
enter(root)
n = 0
for line in sys.stdin:
    cmd = line.split()
    ids = []
    if cmd[0] == 'churn':
        for _ in range(int(cmd[1])):
            n += 1
            d = os.path.join(root, 'c%d' % n)
            os.mkdir(d)
            enter(d)
            for _ in range(4): bytearray(4096)
            enter(root)
            ids.append(str(os.stat(d).st_ino))
            os.rmdir(d)
    elif cmd[0] == 'rm':
        enter(root)
        os.rmdir(os.path.join(root, cmd[1]))
    else:
        d = os.path.join(root, cmd[1])
        os.mkdir(d)
        enter(d)
        for _ in range(4): bytearray(4096)
        ids.append(str(os.stat(d).st_ino))
    print(' '.join(ids), flush=True)
`;

/** WORKER under `root`: `ask` sends a command and answers its ids; `end` lets it exit. */
function startWorker(root: string): { ask: (cmd: string) => Promise<string[]>; end: () => Promise<void> } {
  const worker = spawn('/usr/bin/python3', ['-c', WORKER, root], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: worker.stdout })[Symbol.asyncIterator]();
  return {
    ask: async (cmd) => {
      worker.stdin.write(`${cmd}\n`);
      const { value, done } = await lines.next();
      assert.ok(!done, 'worker exited');
      return value.split(' ').filter((s) => s !== '');
    },
    end: async () => {
      worker.stdin.end();
      if (worker.exitCode === null) await once(worker, 'exit');
    },
  };
}

const metric = 'libc_malloc_calls_total';

test(
  'uprobe: 5,000 cgroups come and go, their keys are removed, a new cgroup is still counted',
  { skip, timeout: 600_000 },
  async (t) => {
    const root = join(mount as string, `ebpf-collector-uprobechurn-${process.pid}`);
    mkdirSync(root);
    const h = host();
    const receiver = await receiverFor('ebpf/uprobe', { program: 'uprobe', removed_cgroup_grace: '100ms' });
    const { ask, end } = startWorker(root);
    try {
      await receiver.start(h);
      const capacity = 4096;
      const started = Date.now();
      const gone = new Set<string>();
      let reads = 0;
      let maxEntries = 0;
      while (gone.size < CHURN) {
        for (const id of await ask(`churn ${Math.min(500, CHURN - gone.size)}`)) gone.add(id);
        // Reads until none of the removed cgroups is left in the map (a walk after a read judges them).
        for (let i = 0; ; i++) {
          const points = await read(receiver, metric);
          reads++;
          maxEntries = Math.max(maxEntries, points.size);
          const left = [...gone].filter((id) => points.has(id)).length;
          if (left === 0) break;
          assert.ok(i < 20, `${left} removed cgroups still in the map after ${i} reads`);
          await sleep(300);
        }
      }
      const [fresh] = await ask('new fresh');
      const points = await read(receiver, metric);
      const labels = { config: receiver.configName, map: metric };
      const failures = selfValue(h.telemetry, 'map_update_failures_total', labels);
      const removed = selfValue(h.telemetry, 'map_cgroup_keys_removed_total', labels) ?? 0;
      t.diagnostic(
        `uprobe churn: ${gone.size} cgroups came and went in ${Date.now() - started} ms, ${reads} reads, ` +
          `${removed} keys removed, at most ${maxEntries} of ${capacity} entries, ${failures} failed updates`,
      );
      assert.ok((points.get(fresh as string) ?? 0) > 0, `the new cgroup ${fresh} is counted`);
      assert.equal(failures, 0, 'no update failed');
      assert.ok(removed >= CHURN, `every removed cgroup's key was deleted (${removed})`);
      assert.ok(maxEntries < capacity, 'the map never filled');
    } finally {
      await end();
      await receiver.shutdown();
      await removeTree(root);
    }
  },
);

test(
  'uprobe: keys of cgroups the table never knew go after poll_interval; a removed cgroup it knew keeps its key for the grace',
  { skip, timeout: 120_000 },
  async (t) => {
    const root = join(mount as string, `ebpf-collector-uprobehold-${process.pid}`);
    mkdirSync(root);
    const h = host();
    const HOLD_MS = 5_000;
    const receiver = await receiverFor('ebpf/uprobe', {
      program: 'uprobe',
      removed_cgroup_grace: '1h',
      poll_interval: `${HOLD_MS}ms`,
    });
    // The table the receiver's upkeep uses (shared: the same root and default settings).
    const lease = acquireTable({ root: mount as string, ...CGROUP_TABLE_DEFAULTS });
    const { ask, end } = startWorker(root);
    try {
      await receiver.start(h);
      const [kept] = (await ask('new kept')) as [string];
      await until(() => lease.table.isLive(BigInt(kept)), 'the table knows the kept cgroup', 10_000);
      await ask('rm kept');
      await until(() => !lease.table.isLive(BigInt(kept)), 'the table saw it removed', 10_000);
      // Cgroups that live microseconds: most are made and removed before the table's events.
      const churnStart = Date.now();
      const churned = await ask('churn 40');
      await sleep(200); // their events handled: a directory already gone is never added
      const unknown = churned.filter((id) => !lease.table.knows(BigInt(id)));
      const known = churned.filter((id) => lease.table.knows(BigInt(id)));
      assert.ok(unknown.length > 0, 'some churned cgroups were never known to the table');
      const first = await read(receiver, metric);
      for (const id of [kept, ...churned]) assert.ok(first.has(id), `cgroup ${id} counted`);
      let points = first;
      while (unknown.some((id) => points.has(id))) {
        assert.ok(Date.now() - churnStart < 60_000, 'never-known cgroups still in the map after 60 s');
        await sleep(200);
        points = await read(receiver, metric);
      }
      const goneMs = Date.now() - churnStart;
      const labels = { config: receiver.configName, map: metric };
      const removed = selfValue(h.telemetry, 'map_cgroup_keys_removed_total', labels);
      t.diagnostic(
        `${unknown.length} never-known cgroups gone ${goneMs} ms after they were made (hold ${HOLD_MS} ms); ` +
          `${known.length + 1} known ones kept for the grace`,
      );
      assert.ok(goneMs >= HOLD_MS, `not before the hold (${goneMs} ms)`);
      for (const id of [kept, ...known])
        assert.ok(points.has(id), `removed cgroup ${id} the table knew: kept`);
      assert.equal(removed, unknown.length, 'each removal counted');
    } finally {
      await end();
      lease.release();
      await receiver.shutdown();
      await removeTree(root);
    }
  },
);
