/**
 * Event delivery to a JS subscriber: bench/bpf/events.bpf.c's ring buffer (or perf buffer)
 * read through the addon, under the same generator as the C consumer
 * (bench/floor/ring_consumer.c). Prints one JSON line like the C consumer's, with this
 * process's CPU time over the run and over its steady state (past the first fifth of the records).
 *
 *   npx node bench/events.ts <ring|perf> <n> <rate> [drainMs]   (drainMs: default 10, as the C consumer's)
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  nextRecord,
  openObject,
  RECORD_HEADER_BYTES,
  type RecordBatch,
  type RingBuffer,
} from '../src/native/index.ts';
import { benchPath } from './lib.ts';

const [mode = 'ring', nArg = '1000000', rateArg = '0', drainArg = '10'] = process.argv.slice(2);
const perf = mode === 'perf';
const gen = spawn(benchPath('build/bench/trigger'), ['gen', nArg, rateArg], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
let genOut = '';
gen.stdout.on('data', (c: Buffer) => (genOut += c.toString()));
const exited = once(gen, 'exit');

const spec = openObject(benchPath('build/bench/events.bpf.o'));
spec.setGlobal('targ_tgid', gen.pid as number);
spec.setAutoload(perf ? 'ring_getppid' : 'perf_getppid', false);
const obj = spec.load();
try {
  const program = perf ? 'perf_getppid' : 'ring_getppid';
  const attached = obj.attach([program]);
  if (!attached.every((a) => a.attached)) throw new Error(`attach: ${JSON.stringify(attached)}`);
  let delivered = 0;
  let pidMatches = 0;
  // The steady state: CPU and records counted from the batch that brings the total past the
  // first fifth (JIT compilation, first touches of the ring's pages), as the C consumer does.
  const warmUp = Math.floor(Number(nArg) / 5);
  let steadyFrom: number | undefined;
  let steadyCpu0: NodeJS.CpuUsage | undefined;
  const pid = gen.pid as number;
  // Each record read in place with the batch's DataView, as the events receiver reads them:
  // its length and its pid field (the C consumer reads the same two). Perf records come padded
  // (20 bytes for 16 written): count records, not sizes. The loop is a function of its own,
  // called with the same shapes every time; counts stay small integers (a sum of pids would
  // leave V8's small-integer range and deoptimize the loop at every batch).
  const decode = (view: DataView, start: number, count: number): void => {
    // Imported and captured bindings copied into locals: read inside the loop, each would be a
    // module cell or context load with a hole check per record.
    const header = RECORD_HEADER_BYTES;
    const next = nextRecord;
    const want = pid;
    let at = start;
    let n = 0;
    let same = 0;
    for (let i = 0; i < count; i++) {
      const len = view.getUint32(at, true);
      if (len >= 16) {
        n++;
        if (view.getUint32(at + header + 8, true) === want) same++;
      }
      at = next(at, len);
    }
    delivered += n;
    pidMatches += same;
  };
  // One call per drain, as the events receiver takes them.
  const handler = {
    onBatch: ({ count, start, view }: RecordBatch): void => {
      decode(view, start, count);
      if (steadyFrom === undefined && delivered >= warmUp) {
        steadyFrom = delivered;
        steadyCpu0 = process.cpuUsage();
      }
    },
  };
  // Drained every drainMs, like the C consumer.
  const drainIntervalMs = Number(drainArg);
  const reader: RingBuffer & { lost?: number } = perf
    ? obj.perfBuffer('perf_events', handler, { pageCount: 256, drainIntervalMs })
    : obj.ringBuffer('events', handler, { drainIntervalMs });
  const cpu0 = process.cpuUsage();
  gen.stdin.end('g');
  await exited;
  reader.consume();
  const cpu = process.cpuUsage(cpu0);
  const steady = steadyCpu0 === undefined ? undefined : process.cpuUsage(steadyCpu0);
  const stats = obj.map('event_stats');
  const slot = (i: number): number => {
    const k = Buffer.alloc(4);
    k.writeUInt32LE(i);
    return Number(stats.lookup(k)?.readBigUInt64LE(0) ?? 0n);
  };
  console.log(
    JSON.stringify({
      delivered,
      // Every record's pid is the generator's: the reads above are not dead code.
      pidOk: pidMatches === delivered,
      produced: slot(0),
      drops: slot(1),
      lost: reader.lost ?? 0,
      genNs: Number(genOut.trim().split(' ')[0]),
      cpuMs: (cpu.user + cpu.system) / 1000,
      steadyRecords: steadyFrom === undefined ? 0 : delivered - steadyFrom,
      steadyCpuMs: steady === undefined ? 0 : (steady.user + steady.system) / 1000,
    }),
  );
  reader.close();
} finally {
  obj.close();
}
