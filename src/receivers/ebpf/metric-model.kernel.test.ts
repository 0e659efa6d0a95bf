/**
 * Every map shape → the right series, on the real kernel: counters from hash,
 * LRU hash, array and per-CPU maps; per-CPU histograms by CPU and summed;
 * several metrics from one struct-valued map. Each program filters on a
 * process the test owns, so the counts are exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import type { Receiver } from '../../pipeline/component.ts';
import type { HistogramPoint, MetricFamily, ScalarPoint } from '../../pipeline/data.ts';
import { ebpfReceiverFactory } from './factory.ts';
import { configSchema } from './config.ts';
import type { EbpfReceiver } from './receiver.ts';
import { testHost } from '../../../test/helpers/host.ts';
import { collectOnce } from '../../../test/helpers/program-run.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const obj = (name: string): string => join(root, 'build', 'bpf', `${name}.bpf.o`);
const logger = pino({ level: 'silent' });

async function receiver(raw: Record<string, unknown>): Promise<EbpfReceiver> {
  return (await ebpfReceiverFactory.create(
    { id: 'ebpf/test', logger, configDir: root },
    configSchema.parse(raw),
  )) as EbpfReceiver;
}

/** Poll now; the assembled families by name. */
async function read(r: Receiver): Promise<Map<string, MetricFamily>> {
  return new Map((await collectOnce(r)).map((f) => [f.name, f]));
}

const scalars = (f: MetricFamily | undefined): ScalarPoint[] => {
  assert.ok(f && f.kind !== 'histogram', 'a counter or gauge family');
  return [...f.points];
};

/** Value of the one series whose labels match `labels` exactly (0 when absent). */
function valueOf(f: MetricFamily | undefined, labels: Record<string, string>): number {
  const want = JSON.stringify(labels);
  return scalars(f).find((p) => JSON.stringify(p.labels) === want)?.value ?? 0;
}

test('counters from hash, LRU hash, array, per-CPU array and per-CPU hashes all equal the getppid(2) calls', async () => {
  const r = await receiver({
    program: obj('map_shapes'),
    metrics_file: 'test/bpf/map_shapes.yaml',
    globals: { targ_tgid: process.pid },
    poll_interval: '1h',
  });
  await r.start(testHost());
  try {
    const tgid = String(process.pid);
    const snapshot = async (): Promise<Record<string, number>> => {
      const m = await read(r);
      const perCpu = scalars(m.get('lru_percpu_hash_calls_total')).filter((p) => p.labels['tgid'] === tgid);
      return {
        hash: valueOf(m.get('hash_calls_total'), { tgid }),
        lruHash: valueOf(m.get('lru_hash_calls_total'), { tgid }),
        array: valueOf(m.get('array_calls_total'), {}),
        percpuArray: valueOf(m.get('percpu_array_calls_total'), {}),
        percpuHash: valueOf(m.get('percpu_hash_calls_total'), { tgid }),
        lruPercpuHashByCpu: perCpu.reduce((n, p) => n + p.value, 0),
      };
    };
    const before = await snapshot();
    const calls = 37;
    for (let i = 0; i < calls; i++) void process.ppid; // getppid(2) each time
    const after = await snapshot();
    for (const k of Object.keys(after))
      assert.equal((after[k] ?? 0) - (before[k] ?? 0), calls, `${k}: delta of ${calls} calls`);

    const m = await read(r);
    // No labels: exactly one unlabelled series, from key 0 only (key 1 holds 1000 per call).
    assert.deepEqual(
      scalars(m.get('percpu_array_calls_total')).map((p) => p.labels),
      [{}],
    );
    assert.deepEqual(
      scalars(m.get('array_calls_total')).map((p) => p.labels),
      [{}],
    );
    // The cpu label: one series per possible CPU, labelled by index, in the definition's label order.
    const cpus = scalars(m.get('lru_percpu_hash_calls_total'))
      .filter((p) => p.labels['tgid'] === tgid)
      .map((p) => Object.entries(p.labels));
    assert.deepEqual(
      cpus,
      Array.from({ length: cpus.length }, (_, c) => [
        ['tgid', tgid],
        ['cpu', String(c)],
      ]),
    );
    assert.ok(cpus.length >= 1);
  } finally {
    await r.shutdown();
  }
});

/** Writes each CPU's sizes to /dev/null from a Python child pinned to that CPU. */
const childScript = `
import json, os, sys
fd = os.open('/dev/null', os.O_WRONLY)
print(fd, flush=True)
plan = json.loads(sys.stdin.readline())
for cpu, sizes in plan:
    os.sched_setaffinity(0, {cpu})
    for n in sizes:
        os.write(fd, b'x' * n)
`;

const twoCpus = availableParallelism() >= 2;

test(
  'per-CPU exp2 histogram: a cpu label before the bucket gives one histogram per CPU; without it CPUs are summed',
  { skip: twoCpus ? false : 'needs two CPUs to pin writes to' },
  async () => {
    const child = spawn('/usr/bin/python3', ['-c', childScript], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const fd = Number((await lines.next()).value);
    assert.ok(Number.isInteger(fd) && fd > 2, `child fd ${fd}`);
    const r = await receiver({
      program: obj('percpu_hist'),
      metrics_file: 'test/bpf/percpu_hist.yaml',
      globals: { targ_tgid: child.pid, targ_fd: fd },
      poll_interval: '1h',
    });
    try {
      await r.start(testHost());
      // cpu 0: slots 0 (1 byte), 2 (3), 7 (100); cpu 1: slots 2 (4), 12 (4096), 13 (5000).
      const plan: [number, number[]][] = [
        [0, [1, 3, 100]],
        [1, [4, 4096, 5000]],
      ];
      child.stdin.end(`${JSON.stringify(plan)}\n`);
      const [code] = await exited;
      assert.equal(code, 0, 'child exit code');
      const m = await read(r);

      const byCpu = m.get('write_size_by_cpu_bytes');
      assert.equal(byCpu?.kind, 'histogram');
      const hist = new Map((byCpu.points as HistogramPoint[]).map((p) => [p.labels['cpu'], p]));
      assert.deepEqual([...hist.keys()].sort(), ['0', '1']);
      const counts = (slots: Record<number, number>): number[] =>
        Array.from({ length: 18 }, (_, i) => slots[i] ?? 0); // buckets 0..16 and +Inf
      assert.deepEqual(hist.get('0'), {
        labels: { cpu: '0' },
        boundaries: byCpu.points[0]?.boundaries,
        counts: counts({ 0: 1, 2: 1, 7: 1 }),
        sum: 104,
        count: 3,
      });
      assert.deepEqual(hist.get('1')?.counts, counts({ 2: 1, 12: 1, 13: 1 }));
      assert.equal(hist.get('1')?.sum, 9100);
      assert.equal(hist.get('1')?.count, 3);

      const summed = m.get('write_size_bytes');
      assert.equal(summed?.kind, 'histogram');
      assert.equal(summed.points.length, 1);
      const s = summed.points[0] as HistogramPoint;
      assert.deepEqual(s.labels, {});
      assert.deepEqual(
        s.boundaries,
        Array.from({ length: 17 }, (_, i) => 2 ** i),
      );
      assert.deepEqual(s.counts, counts({ 0: 1, 2: 2, 7: 1, 12: 1, 13: 1 }));
      assert.equal(s.sum, 1 + 3 + 100 + 4 + 4096 + 5000);
      assert.equal(s.count, 6);

      assert.deepEqual(scalars(m.get('writes_total')), [
        { labels: { cpu: '0' }, value: 3 },
        { labels: { cpu: '1' }, value: 3 },
      ]);
    } finally {
      child.kill();
      await r.shutdown();
    }
  },
);

test('struct map value: calls, bytes (u64) and last size (u32) are three metrics of one map', async () => {
  const fd = openSync('/dev/null', 'w');
  const r = await receiver({
    program: obj('struct_values'),
    metrics_file: 'test/bpf/struct_values.yaml',
    globals: { targ_tgid: process.pid, targ_fd: fd },
    poll_interval: '1h',
  });
  try {
    await r.start(testHost());
    const snapshot = async (): Promise<number[]> => {
      const m = await read(r);
      return ['write_calls_total', 'write_bytes_total', 'write_last_size_bytes'].map((n) =>
        valueOf(m.get(n), {}),
      );
    };
    const [calls0 = 0, bytes0 = 0] = await snapshot();
    for (const size of [10, 200, 3000, 77]) writeSync(fd, Buffer.alloc(size));
    const [calls1 = 0, bytes1 = 0, last = 0] = await snapshot();
    assert.equal(calls1 - calls0, 4);
    assert.equal(bytes1 - bytes0, 10 + 200 + 3000 + 77);
    assert.equal(last, 77);
    const m = await read(r);
    assert.equal(m.get('write_last_size_bytes')?.kind, 'gauge');
  } finally {
    await r.shutdown();
    closeSync(fd);
  }
});

test('struct map value: a value slice past the end and a struct without value: are layout errors', async () => {
  const r = await receiver({
    program: obj('struct_values'),
    globals: { targ_tgid: process.pid },
    metrics: {
      counters: [
        { name: 'a_total', help: 'h', map: 'write_stats', value: { offset: 20, size: 8 } },
        { name: 'write_stats', help: 'h' },
        { name: 'b_total', help: 'h', map: 'no_such_map' },
      ],
    },
  });
  await assert.rejects(r.start(testHost()), (err: Error & { code?: string; details?: string[] }) => {
    assert.equal(err.code, 'ERR_EBPF_LAYOUT');
    assert.deepEqual(err.details, [
      'metric a_total: value offset 20 + size 8 = 28 is past the end of the map value (24 bytes)',
      'metric write_stats: map value must be 8 bytes (u64), but it is 24; for a struct value give value: { offset, size }',
      'metric b_total: the object has no map named "no_such_map" (its map:)',
    ]);
    return true;
  });
});

/** Calls getppid(2) the planned number of times on each CPU, pinned there. */
const getppidScript = `
import json, os, sys
print(os.getpid(), flush=True)
plan = json.loads(sys.stdin.readline())
for cpu, calls in plan:
    os.sched_setaffinity(0, {cpu})
    for _ in range(calls):
        os.getppid()
`;

test(
  'a cpu label on a plain hash map is an ordinary key label (ebpf_exporter llcstat layout)',
  { skip: twoCpus ? false : 'needs two CPUs to pin calls to' },
  async () => {
    const child = spawn('/usr/bin/python3', ['-c', getppidScript], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    assert.equal(Number((await lines.next()).value), child.pid);
    const r = await receiver({
      program: obj('cpu_key'),
      metrics_file: 'test/bpf/cpu_key.yaml',
      globals: { targ_tgid: child.pid },
      poll_interval: '1h',
    });
    try {
      // Before the fix this was ERR_EBPF_LAYOUT ("label cpu needs a per-CPU map"), fatal at start.
      await r.start(testHost());
      child.stdin.end(
        `${JSON.stringify([
          [0, 5],
          [1, 7],
        ])}\n`,
      );
      const [code] = await exited;
      assert.equal(code, 0, 'child exit code');
      const m = await read(r);
      // The label is the key's u32, decoded by uint: one series per CPU the calls ran on.
      assert.deepEqual(
        scalars(m.get('getppid_by_cpu_total')).sort(
          (a, b) => Number(a.labels['cpu']) - Number(b.labels['cpu']),
        ),
        [
          { labels: { cpu: '0' }, value: 5 },
          { labels: { cpu: '1' }, value: 7 },
        ],
      );
    } finally {
      child.kill();
      await r.shutdown();
    }
  },
);
