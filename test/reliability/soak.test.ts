import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { repoRoot, samples, startAgent } from '../helpers/agent.ts';
import { HeapProbe } from './heap-probe.ts';
import { machine, median, procSample, quantile, slope, type ProcSample } from './proc-stats.ts';

/**
 * Soak: the default pipeline under load — processes started (every program sees exec,
 * malloc, timers, scheduler, page cache and block I/O), a Python import now and then (usdt),
 * TCP connections, a scrape every second (gzip every other one) — for SOAK_SECONDS (75 s in
 * `npm test`; `npm run test:reliability` runs an hour). After a warm-up (a quarter, at most
 * 10 minutes) the agent's RSS, fds and threads are sampled from /proc: the RSS slope (least
 * squares) must stay under 1 MiB/h in a run of 30 minutes or more (in the short form, RSS
 * may not grow by more than 16 MiB), fds and threads flat, event-loop lag bounded. The live
 * JS heap after a forced full GC (through the agent's inspector) is sampled beside it, with
 * the series per scrape: a leak grows that heap; allocator or GC behaviour grows RSS alone,
 * and more series (other workloads on the machine) grow both. The RSS slope is judged only
 * when the workload held steady (series at the end within 10 % of those after warm-up): on a
 * shared machine other tests' short-lived cgroups can triple the series in an hour, and RSS
 * follows the data. Then the live heap may grow by at most 2 MiB plus 1 KiB per added series
 * (a leak grows it without series). The lag is judged on the scrapes whose interval held no
 * forced GC: the probe's full GC (several mark-compacts, in the agent's loop) is the test's
 * instrument, not the agent's work; those scrapes' lags are printed apart. The figures are
 * printed, with the load average at start and end.
 */
const SECONDS = Number(process.env['SOAK_SECONDS'] ?? 75);
const LONG = SECONDS >= 1800;
const WARMUP = Math.min(600, SECONDS / 4);
/** Samples taken: one per second in the short form, ~720 in a long one. */
const SAMPLE_EVERY = Math.max(1, Math.round(SECONDS / 720));
/** Heap samples (each forces a full GC): every 5 s in the short form, ~120 in a long one. */
const HEAP_EVERY = Math.max(5, Math.round(SECONDS / 120));
const loads = (): string =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

/** Load generators: a shell loop of short processes, file writes and a Python import. */
function startLoad(dir: string): ChildProcess {
  const script = `
    i=0
    while :; do
      for j in 1 2 3 4 5; do /bin/true; done
      i=$((i+1))
      if [ $((i % 5)) -eq 0 ]; then dd if=/dev/zero of=${dir}/f bs=64k count=16 conv=fsync status=none; cat ${dir}/f > /dev/null; fi
      if [ $((i % 20)) -eq 0 ]; then /usr/bin/python3.11 -c 'import json, decimal' 2>/dev/null; fi
      sleep 0.2
    done`;
  return spawn('/bin/sh', ['-c', script], { stdio: 'ignore', detached: false });
}

function scrape(port: number, gzip: boolean): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/metrics',
        agent: false,
        headers: gzip ? { 'accept-encoding': 'gzip' } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let raw = Buffer.concat(chunks);
          if (res.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
          resolve({ status: res.statusCode ?? 0, text: raw.toString() });
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error('scrape timed out')));
    req.end();
  });
}

/** A TCP connection to the port, opened and closed (accept latency, SYN backlog). */
function knock(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.end());
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

test(`soak: the default pipeline under load for ${SECONDS} s: RSS, fds and threads flat, event-loop lag bounded`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'soak-'));
  const loadAtStart = loads();
  const agent = await startAgent(
    [join(repoRoot, 'pipelines', 'default.yaml')],
    { NODE_OPTIONS: '--inspect=127.0.0.1:0' },
    60_000,
  );
  const pid = agent.child.pid as number;
  const probe = await HeapProbe.connect(agent.logs);
  const load = startLoad(dir);
  const stats: ProcSample[] = [];
  /** [seconds, MiB of live heap after a full GC, series per scrape]. */
  const heap: [number, number, number][] = [];
  const lags: number[] = [];
  /** Lags of scrapes right after a forced GC: the probe's own full GCs block the agent's loop. */
  const probeLags: number[] = [];
  let probed = false;
  const codes = new Map<number, number>();
  let errors = 0;
  let series = 0;
  /** Series per scrape when the warm-up ended (the workload's size: RSS follows it). */
  let seriesAtWarmup = 0;
  const t0 = performance.now();
  const elapsed = (): number => (performance.now() - t0) / 1000;
  try {
    let n = 0;
    while (elapsed() < SECONDS) {
      const tick = performance.now();
      try {
        const r = await scrape(agent.port, n % 2 === 0);
        codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
        if (r.status === 200) {
          const lag = samples(r.text, 'nodejs_eventloop_lag_seconds')[0]?.value;
          if (lag !== undefined && elapsed() >= WARMUP) (probed ? probeLags : lags).push(lag);
          probed = false;
          series = r.text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
          if (seriesAtWarmup === 0 && elapsed() >= WARMUP) seriesAtWarmup = series;
        }
      } catch {
        errors++;
      }
      await knock(agent.port);
      if (n % SAMPLE_EVERY === 0) stats.push(procSample(pid, elapsed()));
      // After the RSS sample: the forced GC frees garbage RSS would otherwise still hold.
      if (n % HEAP_EVERY === 0) {
        heap.push([elapsed(), await probe.heapAfterGcMiB(), series]);
        probed = true;
      }
      n++;
      await delay(Math.max(0, 1000 - (performance.now() - tick)));
    }
  } finally {
    probe.close();
    load.kill('SIGKILL');
    const code = await agent.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, 'the agent exits cleanly after the soak');
  }

  const after = stats.filter((s) => s.t >= WARMUP);
  const rssSlope = slope(after.map((s) => [s.t / 3600, s.rssMiB]));
  const head = after.slice(0, Math.max(1, Math.floor(after.length / 10)));
  const tail = after.slice(-Math.max(1, Math.floor(after.length / 10)));
  const rssGrowth = median(tail.map((s) => s.rssMiB)) - median(head.map((s) => s.rssMiB));
  const heapAfter = heap.filter(([t]) => t >= WARMUP);
  const heapSlope = slope(heapAfter.map(([t, mib]) => [t / 3600, mib]));
  const [heapFirst, heapLast] = [heapAfter[0], heapAfter[heapAfter.length - 1]];
  const range = (xs: number[]): [number, number] => [Math.min(...xs), Math.max(...xs)];
  const [fdMin, fdMax] = range(after.map((s) => s.fds));
  const [thMin, thMax] = range(after.map((s) => s.threads));
  const lagP99 = quantile(lags, 0.99);
  const lagMax = Math.max(...lags);
  const first = stats[0] as ProcSample;
  const last = stats[stats.length - 1] as ProcSample;
  console.log(
    [
      `soak figures (${machine()}; load average ${loadAtStart} at start, ${loads()} at end):`,
      `  duration ${SECONDS} s, warm-up ${WARMUP} s, ${stats.length} samples; series per scrape ${seriesAtWarmup} after warm-up, ${series} at end`,
      `  scrapes ${[...codes].map(([c, k]) => `${k} × ${c}`).join(', ')}, ${errors} failed`,
      `  RSS ${first.rssMiB.toFixed(1)} MiB at start, ${(head[0] as ProcSample).rssMiB.toFixed(1)} after warm-up, ${last.rssMiB.toFixed(1)} at end; slope after warm-up ${rssSlope.toFixed(2)} MiB/h (least squares), growth ${rssGrowth.toFixed(1)} MiB (median of last vs first tenth)`,
      `  live JS heap after a full GC: ${heapFirst?.[1].toFixed(1)} MiB after warm-up (${heapFirst?.[2]} series), ${heapLast?.[1].toFixed(1)} at end (${heapLast?.[2]} series); slope ${heapSlope.toFixed(2)} MiB/h (least squares, ${heapAfter.length} samples)`,
      `  fds ${fdMin}–${fdMax} after warm-up (${first.fds} at start), threads ${thMin}–${thMax} (${first.threads} at start)`,
      `  event-loop lag after warm-up: p99 ${(lagP99 * 1000).toFixed(1)} ms, max ${(lagMax * 1000).toFixed(1)} ms ` +
        `(${lags.length} scrapes; the ${probeLags.length} right after the probe's forced full GC are apart: ` +
        `p50 ${(quantile(probeLags, 0.5) * 1000).toFixed(1)} ms, max ${(Math.max(0, ...probeLags) * 1000).toFixed(1)} ms)`,
    ].join('\n'),
  );

  assert.equal(errors, 0, 'every scrape answered');
  assert.deepEqual([...codes.keys()], [200], 'every scrape answered 200');
  const steady = series <= seriesAtWarmup * 1.1 && series >= seriesAtWarmup * 0.9;
  const heapGrowth = (heapLast?.[1] ?? 0) - (heapFirst?.[1] ?? 0);
  const added = Math.max(0, (heapLast?.[2] ?? 0) - (heapFirst?.[2] ?? 0));
  if (!steady)
    console.log(
      `  workload not steady (series ${seriesAtWarmup} → ${series}): RSS follows the data, its slope is not judged; ` +
        `live heap +${heapGrowth.toFixed(1)} MiB for ${added} added series`,
    );
  if (LONG && steady) assert.ok(rssSlope < 1, `RSS slope ${rssSlope.toFixed(2)} MiB/h after warm-up`);
  else if (LONG)
    assert.ok(
      heapGrowth < 2 + added / 1024,
      `live heap +${heapGrowth.toFixed(1)} MiB after warm-up for ${added} added series`,
    );
  else assert.ok(rssGrowth < 16, `RSS grew ${rssGrowth.toFixed(1)} MiB after warm-up`);
  // A scrape connection may be open at a sample: a few fds of slack, none of growth.
  assert.ok(fdMax - fdMin <= 4, `fds ${fdMin}–${fdMax}`);
  assert.ok(last.fds <= fdMin + 2, `fds at end ${last.fds}, min ${fdMin}`);
  assert.ok(thMax - thMin <= 2, `threads ${thMin}–${thMax}`);
  assert.ok(lagP99 < 0.25 && lagMax < 2, `event-loop lag p99 ${lagP99} s, max ${lagMax} s`);
});
