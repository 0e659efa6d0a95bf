import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { currentCapabilities, maskOf, namesOf } from './caps.ts';

/**
 * A drop is for good: each case runs in a child Node process, which reports its
 * threads' sets (read from /proc/self/task/<tid>/status) as JSON.
 */
const capsModule = fileURLToPath(new URL('./caps.ts', import.meta.url));
const testingModule = fileURLToPath(new URL('./testing.ts', import.meta.url));

interface Thread {
  tid: number;
  name: string;
  effective: string;
  permitted: string;
  inheritable: string;
  ambient: string;
  bounding: string;
}
interface Report {
  before: Thread[];
  after: Thread[];
  result: {
    before: string[];
    kept: string[];
    threads: number;
    checkedThreads: number;
    boundingDropped: boolean;
  };
}

function runChild(keep: string[], prefix: string[] = []): Report {
  const script = `
import { dropCapabilities, threadCapabilities } from ${JSON.stringify(capsModule)};
import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
const hex = (t) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString(16) : v]));
await Promise.all(Array.from({ length: 8 }, () => readFile('/proc/self/status'))); // libuv's pool threads
const before = threadCapabilities().map(hex);
const result = dropCapabilities(${JSON.stringify(keep)});
// Threads created after the drop: a worker (its own thread and V8 isolate) and more pool work.
const w = new Worker('setTimeout(() => {}, 1000)', { eval: true });
await new Promise((resolve) => w.on('online', resolve));
await Promise.all(Array.from({ length: 8 }, () => readFile('/proc/self/status')));
const after = threadCapabilities().map(hex);
await w.terminate();
process.stdout.write(JSON.stringify({ before, after, result }));
`;
  const cmd = [...prefix, process.execPath, '--input-type=module', '-e', script];
  const r = spawnSync(cmd[0] as string, cmd.slice(1), { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Report;
}

test('capabilities of the calling thread match its /proc status', () => {
  const c = currentCapabilities();
  const status = readFileSync(`/proc/self/task/${process.pid}/status`, 'utf8');
  const field = (k: string): bigint =>
    BigInt(`0x${new RegExp(`^${k}:\\s*([0-9a-f]+)`, 'm').exec(status)?.[1]}`);
  assert.equal(c.effective, field('CapEff'));
  assert.equal(c.permitted, field('CapPrm'));
  assert.equal(c.inheritable, field('CapInh'));
  assert.equal(c.ambient, field('CapAmb'));
  assert.equal(c.bounding, field('CapBnd'));
  assert.ok(c.lastCap >= 39, `cap_last_cap ${c.lastCap}: this kernel should know CAP_BPF`);
});

test('dropCapabilities: every thread — the inspector signal thread and libuv pool included — and threads created later hold only the kept set', () => {
  const r = runChild(['BPF', 'SYSLOG']);
  const keep = maskOf(['BPF', 'SYSLOG']).toString(16);
  const names = new Set(r.before.map((t) => t.name));
  for (const n of ['MainThread', 'libuv-worker', 'V8Worker', 'SignalInspector'])
    assert.ok(names.has(n), `expected a ${n} thread before the drop, got ${[...names].join(', ')}`);
  assert.ok(
    r.before.every((t) => BigInt(`0x${t.effective}`) > maskOf(['BPF', 'SYSLOG'])),
    'every thread starts with more than the kept set (run as root)',
  );
  assert.deepEqual(r.result.kept, ['SYSLOG', 'BPF']);
  assert.equal(r.result.boundingDropped, true);
  assert.ok(
    r.result.threads >= r.before.length,
    `${r.result.threads} threads dropped, ${r.before.length} seen`,
  );
  const created = r.after.filter((t) => !r.before.some((b) => b.tid === t.tid));
  assert.ok(created.length > 0, 'threads were created after the drop');
  for (const t of r.after) {
    assert.deepEqual(
      [t.effective, t.permitted, t.inheritable, t.ambient, t.bounding],
      [keep, keep, '0', '0', keep],
      `thread ${t.tid} (${t.name})`,
    );
  }
});

test('dropCapabilities without CAP_SETPCAP: keeps what it can (held ∩ keep), leaves the bounding set', () => {
  const r = runChild(
    ['BPF', 'SYSLOG'],
    ['setpriv', '--bounding-set', '-all,+bpf,+perfmon', '--inh-caps', '-all', '--'],
  );
  assert.deepEqual(r.result.before, ['PERFMON', 'BPF']);
  assert.deepEqual(r.result.kept, ['BPF']);
  assert.equal(r.result.boundingDropped, false);
  const bpf = maskOf(['BPF']).toString(16);
  for (const t of r.after) {
    assert.deepEqual(
      [t.effective, t.permitted, t.inheritable, t.ambient],
      [bpf, bpf, '0', '0'],
      `thread ${t.tid} (${t.name})`,
    );
    assert.deepEqual(namesOf(BigInt(`0x${t.bounding}`)), ['PERFMON', 'BPF']);
  }
});

interface IoReport {
  ioThreads: { name: string; io: string }[];
  ms: number;
  result?: Report['result'] & { ioWorkers: { tid: number; name: string; holds: string[] }[] };
  after?: Thread[];
  error?: { code: string; details: string[] };
}

/** A child with an io_uring kernel thread of `kind` (src/native/testing.ts) drops to BPF, SYSLOG. */
function runIoChild(kind: 'worker' | 'sqpoll'): IoReport {
  const script = `
import { dropCapabilities, threadCapabilities } from ${JSON.stringify(capsModule)};
import { ioUringThread, ioUringRelease } from ${JSON.stringify(testingModule)};
const hex = (t) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString(16) : v]));
ioUringThread(${JSON.stringify(kind)});
const io = () => threadCapabilities().filter((t) => t.io);
for (let i = 0; i < 200 && io().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
const out = { ioThreads: io().map((t) => ({ name: t.name, io: t.io })) };
const t0 = Date.now();
try {
  out.result = dropCapabilities(['BPF', 'SYSLOG']);
  out.after = threadCapabilities().map(hex);
} catch (e) {
  out.error = { code: e.code, details: e.details };
}
out.ms = Date.now() - t0;
ioUringRelease();
process.stdout.write(JSON.stringify(out));
`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as IoReport;
}

/** The drop waits this long for a thread's acknowledgement (src/native/caps.ts); an io thread must not cost it. */
const ACK_WAIT_MS = 5000;

test('dropCapabilities with an io_uring worker thread (libuv batches epoll_ctl through io_uring): succeeds at once, reports the worker, every other thread holds only the kept set', () => {
  const r = runIoChild('worker');
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  assert.deepEqual(
    r.ioThreads.map((t) => t.io),
    ['worker'],
    'the kernel started one io-wq worker in the child',
  );
  assert.ok(r.ms < ACK_WAIT_MS - 1000, `the drop took ${r.ms} ms: it waited for the io thread`);
  const workers = r.result?.ioWorkers ?? [];
  assert.equal(workers.length, 1);
  assert.match(workers[0]?.name ?? '', /^iou-wrk-/);
  assert.ok(workers[0]?.holds.includes('SYS_ADMIN'), 'the worker keeps its start-up set');
  const keep = maskOf(['BPF', 'SYSLOG']).toString(16);
  const others = (r.after ?? []).filter((t) => !/^iou-/.test(t.name));
  assert.ok(others.length >= 7, `${others.length} user threads`);
  for (const t of others) {
    assert.deepEqual(
      [t.effective, t.permitted, t.bounding],
      [keep, keep, keep],
      `thread ${t.tid} (${t.name})`,
    );
  }
});

test("dropCapabilities with an io_uring SQPOLL thread (it submits with its ring creator's credentials): ERR_CAPS_DROP naming it, at once", () => {
  const r = runIoChild('sqpoll');
  // The SQPOLL thread may already have handed the ring's read to an io-wq worker: not a problem.
  assert.ok(
    r.ioThreads.some((t) => t.io === 'sqpoll'),
    JSON.stringify(r.ioThreads),
  );
  assert.equal(r.error?.code, 'ERR_CAPS_DROP');
  assert.equal(r.error?.details.length, 1, JSON.stringify(r.error?.details));
  assert.match(r.error?.details[0] ?? '', /iou-sqp-\d+\): an io_uring SQPOLL thread .* cannot be dropped/);
  assert.ok(r.ms < ACK_WAIT_MS - 1000, `the drop took ${r.ms} ms: it waited for the io thread`);
});
