/**
 * bpf/shrinklat: memory reclaim latency. A v1 memory cgroup (the memory
 * controller's mount found in mountinfo) with a 32 MiB limit; a python child
 * moved into it reads a 128 MiB file on the root filesystem (ext4, not tmpfs)
 * that it first drops from the page cache (posix_fadvise DONTNEED), so every
 * charge past the limit makes the kernel reclaim the cgroup's own page cache.
 * memory.failcnt proves the limit was hit; the exact number of memcg reclaim
 * invocations comes from an independent consumer of the kernel's own events: an
 * ftrace instance recording the reader's mm_vmscan_memcg_reclaim_begin. (failcnt
 * is no exact count of invocations: on 6.1, where page cache is charged page by
 * page, a failed 64-page batch charge and its 1-page retry both count, and one
 * reclaim frees room for many pages — measured ≈50 failcnt per invocation; on
 * 6.18 they matched one to one.)
 *
 * On this kernel (no kprobes) the receiver chooses the tp_btf set and exports
 * vmscan_reclaim_latency_seconds{kind} instead of shrink_node_latency_seconds;
 * where kprobes exist the preferred shrink_node histogram is checked instead.
 * Needs root and the v1 memory controller.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { readMountInfo } from '../../src/kernel/mountinfo.ts';
import { ensureTracefs } from '../../src/native/tracefs.ts';
import { assemble } from '../../src/pipeline/assemble.ts';
import type { HistogramPoint, MetricBatch } from '../../src/pipeline/data.ts';
import { configSchema } from '../../src/receivers/ebpf/config.ts';
import { ebpfReceiverFactory } from '../../src/receivers/ebpf/factory.ts';
import type { EbpfReceiver } from '../../src/receivers/ebpf/receiver.ts';
import { repoRoot } from '../helpers/agent.ts';
import { spawnInCgroup } from '../helpers/cgroup-child.ts';
import { expectedHook } from '../helpers/kernel-features.ts';
import { host, logger, rmdirRetry } from '../cgroups/helpers.ts';

const MIB = 1024 * 1024;
const LIMIT = 32 * MIB;
const FILE_MIB = 128;
const PREFERENCE = ['kprobe', 'tp_btf', 'tracepoint'] as const;

const memoryMount = readMountInfo().find(
  (m) => m.fsType === 'cgroup' && m.superOptions.includes('memory'),
)?.mountPoint;
const skip = process.getuid?.() !== 0 ? 'needs root' : memoryMount ? false : 'no cgroup v1 memory controller';

/** Reads the file cold, in 1 MiB chunks, once released. */
const SCRIPT = `import os, sys
sys.stdin.read(1)
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
while os.read(fd, 1 << 20):
    pass
os.close(fd)
`;

function writeFile(path: string): void {
  const fd = openSync(path, 'w');
  try {
    const chunk = Buffer.alloc(MIB, 0x5a);
    for (let i = 0; i < FILE_MIB; i++) writeSync(fd, chunk);
    fsyncSync(fd); // clean pages: DONTNEED can drop them
  } finally {
    closeSync(fd);
  }
}

/**
 * An ftrace instance recording `pid`'s memcg reclaim invocations
 * (vmscan/mm_vmscan_memcg_reclaim_begin): the oracle the BPF histogram is checked against.
 */
function traceMemcgReclaim(pid: number): { count: () => number; close: () => void } {
  const dir = join(ensureTracefs(), 'instances', `ebpf-collector-shrinklat-${process.pid}`);
  mkdirSync(dir);
  const event = join(dir, 'events', 'vmscan', 'mm_vmscan_memcg_reclaim_begin');
  try {
    writeFileSync(join(dir, 'buffer_size_kb'), '4096');
    writeFileSync(join(event, 'filter'), `common_pid == ${pid}`);
    writeFileSync(join(event, 'enable'), '1');
  } catch (err) {
    rmdirSync(dir);
    throw err;
  }
  return {
    count: () => {
      for (const cpu of readdirSync(join(dir, 'per_cpu'))) {
        const stats = readFileSync(join(dir, 'per_cpu', cpu, 'stats'), 'utf8');
        assert.match(stats, /^overrun: 0$/m, `ftrace lost events on ${cpu}`);
      }
      return readFileSync(join(dir, 'trace'), 'utf8')
        .split('\n')
        .filter((l) => !l.startsWith('#') && l.includes('mm_vmscan_memcg_reclaim_begin')).length;
    },
    close: () => {
      writeFileSync(join(event, 'enable'), '0');
      rmdirSync(dir);
    },
  };
}

const histograms = (batch: MetricBatch | undefined, name: string): HistogramPoint[] =>
  (assemble(batch?.families ?? []).find((f) => f.name === name)?.points ?? []) as HistogramPoint[];

for (const forced of [undefined, 'tracepoint'] as const) {
  test(
    `shrinklat via ${forced ?? 'the preferred hook'}: a 32 MiB memory cgroup reading a cold 128 MiB file: the reclaim latency samples match the memcg reclaim invocations`,
    { skip, timeout: 60_000 },
    async (t) => {
      const cgroup = join(memoryMount as string, `ebpf-collector-shrinklat-${process.pid}`);
      const file = join('/var/tmp', `ebpf-collector-shrinklat-${process.pid}.dat`);
      let last: MetricBatch | undefined;
      let receiver: EbpfReceiver | undefined;
      let reader: { pid: number; release: () => Promise<void> } | undefined;
      let trace: ReturnType<typeof traceMemcgReclaim> | undefined;
      const failcnt = (): number => Number(readFileSync(join(cgroup, 'memory.failcnt'), 'utf8'));
      try {
        writeFile(file);
        mkdirSync(cgroup);
        writeFileSync(join(cgroup, 'memory.limit_in_bytes'), String(LIMIT));
        // Only the reader's reclaim is timed (filter_tgid): reclaim elsewhere on the host stays out.
        reader = await spawnInCgroup(cgroup, ['-c', SCRIPT, file]); // reads once released
        receiver = (await ebpfReceiverFactory.create(
          { id: 'ebpf/shrinklat', logger, configDir: repoRoot },
          configSchema.parse({
            program: 'shrinklat',
            poll_interval: '1h',
            globals: { filter_tgid: reader.pid },
            ...(forced ? { hooks: [forced] } : {}),
          }),
        )) as EbpfReceiver;
        receiver.output$.subscribe((b) => (last = b));
        await receiver.start(host());
        const hook = forced ?? expectedHook(PREFERENCE);
        assert.equal(receiver.hook, hook);
        if (!forced && hook !== 'kprobe') {
          // The preferred set was tried first and its failure is reported.
          const kprobe = receiver.attempts.find((a) => a.hook === 'kprobe');
          assert.equal(kprobe?.ok, false);
          assert.match(kprobe?.reason ?? '', /kprobe\/shrink_node|kretprobe\/shrink_node/);
          assert.equal(receiver.describe()['hook'], hook);
        }
        const [metric, kind] =
          hook === 'kprobe'
            ? ['shrink_node_latency_seconds', undefined]
            : ['vmscan_reclaim_latency_seconds', 'memcg'];
        const other = hook === 'kprobe' ? 'vmscan_reclaim_latency_seconds' : 'shrink_node_latency_seconds';
        const series = (): HistogramPoint | undefined =>
          histograms(last, metric).find((p) => kind === undefined || p.labels['kind'] === kind);

        await receiver.collectNow();
        const before = series();
        const failBefore = failcnt();
        trace = traceMemcgReclaim(reader.pid);
        await reader.release();
        reader = undefined;
        const hits = failcnt() - failBefore;
        const invocations = trace.count();
        await receiver.collectNow();
        const after = series();
        assert.ok(after, `no ${metric} series${kind ? ` for kind=${kind}` : ''}`);
        assert.equal(histograms(last, other).length, 0, `${other} is not exported with hook ${hook}`);

        const samples = after.count - (before?.count ?? 0);
        const buckets = after.counts.map((c, i) => c - (before?.counts[i] ?? 0));
        const sum = after.sum - (before?.sum ?? 0);
        t.diagnostic(
          `${hook}: memory.failcnt +${hits}, ${invocations} memcg reclaim invocations (ftrace), ${samples} samples, sum ${(sum * 1e3).toFixed(2)} ms, buckets ${JSON.stringify(buckets)}`,
        );
        assert.ok(hits > 0, 'the read never hit the limit: the trigger did not work');
        // Every invocation follows a charge that failed at the limit.
        assert.ok(invocations > 0 && invocations <= hits, `${invocations} reclaims for ${hits} limit hits`);
        if (kind === 'memcg') {
          // One sample per memcg reclaim invocation of the reader.
          assert.equal(samples, invocations, `${samples} reclaim samples for ${invocations} invocations`);
        } else {
          // Each invocation makes at least one shrink_node() pass (more at rising priority).
          assert.ok(samples >= invocations, `${samples} samples for ${invocations} invocations`);
        }
        assert.equal(
          buckets.reduce((a, b) => a + b, 0),
          samples,
          'the buckets add up to the count',
        );
        assert.ok(
          buckets.every((b) => b >= 0),
          'a bucket went backwards',
        );
        // A sample in bucket k took (2^(k-1), 2^k] µs: the sum lies between the buckets' bounds.
        const low = buckets.reduce(
          (acc, b, i) => acc + (b > 0 && i > 0 ? b * (after.boundaries[i - 1] ?? 0) : 0),
          0,
        );
        const high = buckets.reduce(
          (acc, b, i) => acc + (b > 0 ? b * (after.boundaries[i] ?? Infinity) : 0),
          0,
        );
        assert.ok(
          sum >= low * 0.999 && sum <= high * 1.001,
          `sum ${sum} s outside the buckets' bounds [${low}, ${high}] s`,
        );
      } finally {
        await reader?.release().catch(() => {});
        trace?.close();
        await receiver?.shutdown();
        rmSync(file, { force: true });
        await rmdirRetry(cgroup);
      }
    },
  );
}
