import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { repoRoot, samples, startAgent } from '../helpers/agent.ts';
import { machine, median, procSample, quantile } from './proc-stats.ts';
import { showSplit, type MemorySplit } from './memory-split.ts';

/**
 * The metrics endpoint under a flood (issue 18): 1,000 concurrent scrapes of a 10k-series
 * endpoint answer 200 or 503 only, the 200s within a bound; after each flood RSS is back near
 * its base and does not grow from flood to flood, the live JS heap (after a full GC) is back
 * at its base and V8's new space has not grown; 20,000 idle connections leave the agent
 * collecting and answering within its connection cap. The figures are printed.
 */
const here = import.meta.dirname;
const CONCURRENT = 1000;
const ROUNDS = Number(process.env.FLOOD_ROUNDS ?? 3);

interface Answer {
  status: number;
  ms: number;
  bytes: number;
}

function scrape(port: number, gzip: boolean, timeoutMs = 60_000): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve) => {
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
          let body = Buffer.concat(chunks);
          if (res.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
          resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0, bytes: body.length });
        });
        res.on('error', () => resolve({ status: -1, ms: performance.now() - t0, bytes: 0 }));
      },
    );
    req.on('error', () => resolve({ status: -1, ms: performance.now() - t0, bytes: 0 }));
    req.setTimeout(timeoutMs, () => req.destroy());
    req.end();
  });
}

function text(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

/**
 * Spawn a fixture script with the project's Node (and these Node flags); resolves with its
 * first stdout line (JSON). With `stdin`, its stdin is a pipe (flood-target answers lines).
 */
async function fixture(
  script: string,
  args: string[],
  options: { nodeArgs?: string[]; stdin?: boolean } = {},
): Promise<{ child: ChildProcess; first: unknown; lines: AsyncIterator<string> }> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), join(here, script), ...args], {
    stdio: [options.stdin === true ? 'pipe' : 'ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const first = await lines.next();
  assert.ok(!first.done, `${script} printed nothing`);
  return { child, first: JSON.parse(first.value) as unknown, lines };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function rssMedian(pid: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    xs.push(procSample(pid, 0).rssMiB);
    await delay(100);
  }
  return median(xs);
}

/** flood-target's memory split (MiB), after a full GC. */
async function split(target: { child: ChildProcess; lines: AsyncIterator<string> }): Promise<MemorySplit> {
  target.child.stdin?.write('mem\n');
  const line = await target.lines.next();
  assert.ok(!line.done, 'flood-target answers its memory split');
  return JSON.parse(line.value) as MemorySplit;
}

describe('scrape flood', () => {
  it(`${CONCURRENT} concurrent scrapes of 10k series, ${ROUNDS} rounds: 200 or 503 only, p99 bounded, RSS back near base after each, no growth from flood to flood`, async () => {
    const target = await fixture('flood-target.ts', ['40'], { nodeArgs: ['--expose-gc'], stdin: true });
    const pid = target.child.pid as number;
    const port = (target.first as { port: number }).port;
    try {
      // Warm-up: the label cache, V8's code and heap settle.
      let series = 0;
      for (let i = 0; i < 5; i++) {
        const body = await text(port);
        series = body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
      }
      assert.ok(series >= 10_000, `${series} series`);
      const base = await rssMedian(pid);
      const baseSplit = await split(target);
      const lines = [
        `scrape flood (${machine()}; load average ${loadavg()
          .map((l) => l.toFixed(1))
          .join(
            ' ',
          )}): ${series} series, max_requests 40, RSS base ${base.toFixed(1)} MiB; ${showSplit(baseSplit)}`,
      ];
      for (let round = 1; round <= ROUNDS; round++) {
        let peak = 0;
        const sampler = setInterval(() => (peak = Math.max(peak, procSample(pid, 0).rssMiB)), 50);
        const t0 = performance.now();
        const answers = await Promise.all(
          Array.from({ length: CONCURRENT }, (_, i) => scrape(port, i % 2 === 0)),
        );
        const wall = performance.now() - t0;
        clearInterval(sampler);
        const by = new Map<number, number>();
        for (const a of answers) by.set(a.status, (by.get(a.status) ?? 0) + 1);
        const ok = answers.filter((a) => a.status === 200);
        const refused = answers.filter((a) => a.status === 503);
        // Settle: a few ordinary scrapes, then RSS.
        await delay(2000);
        for (let i = 0; i < 3; i++) await text(port);
        const after = await rssMedian(pid);
        const mem = await split(target);
        const p99 = quantile(
          ok.map((a) => a.ms),
          0.99,
        );
        lines.push(
          `  round ${round}: ${[...by].map(([c, n]) => `${n} × ${c}`).join(', ')} in ${(wall / 1000).toFixed(2)} s; ` +
            `200s p50 ${quantile(
              ok.map((a) => a.ms),
              0.5,
            ).toFixed(0)} ms, p99 ${p99.toFixed(0)} ms; 503s p99 ${quantile(
              refused.map((a) => a.ms),
              0.99,
            ).toFixed(
              0,
            )} ms; RSS peak ${peak.toFixed(1)} MiB, after ${after.toFixed(1)} MiB (base ${base.toFixed(1)}); after a GC: ${showSplit(mem)}`,
        );
        assert.deepEqual(
          [...by.keys()].filter((c) => c !== 200 && c !== 503),
          [],
          `only 200 and 503: ${[...by].join(' ')}`,
        );
        assert.ok(ok.length >= 40, `${ok.length} answered 200`);
        assert.ok(refused.length > 0, 'beyond max_requests: 503');
        for (const a of ok) assert.ok(a.bytes > 500_000, 'a 200 carries the whole exposition');
        assert.ok(p99 < 30_000, `p99 of the 200s ${p99} ms`);
        // No leak: the live heap is back at its base; the new space did not grow (it never
        // shrinks once grown: that was the flood-to-flood growth, 211 → 306 MiB in 8 rounds).
        assert.ok(
          mem.heapUsed - baseSplit.heapUsed < 8,
          `live JS heap ${mem.heapUsed} MiB, base ${baseSplit.heapUsed}`,
        );
        assert.ok(
          mem.newSpace <= baseSplit.newSpace,
          `new space ${mem.newSpace} MiB, base ${baseSplit.newSpace}`,
        );
        // What stays: V8 old-space pages and malloc memory the flood's peak grew (~20–25 MiB
        // here, ~50 after a round that answered 400+ with 200). The same bound for every round:
        // growth over rounds is bounded (before the young-generation fix: +40, +68, +86 MiB…).
        assert.ok(
          after - base < 64,
          `RSS after flood ${round} ${after.toFixed(1)} MiB, base ${base.toFixed(1)} MiB`,
        );
      }
      console.log(lines.join('\n'));
    } finally {
      await stop(target.child);
    }
  });

  it('20,000 idle connections: the agent keeps collecting and answers a scrape within its connection cap', async () => {
    const agent = await startAgent([join(repoRoot, 'pipelines', 'default.yaml')], {}, 60_000);
    const pid = agent.child.pid as number;
    const clients: ChildProcess[] = [];
    try {
      const limit = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1];
      const serving = agent.logs.find((l) => l.includes('"msg":"serving metrics"')) ?? '';
      const cap = Number(/"max_connections":(\d+)/.exec(serving)?.[1]);
      assert.ok(cap > 0, `the cap is logged: ${serving}`);
      const before = await text(agent.port);
      const fdsBase = procSample(pid, 0).fds;
      const timerSum = (body: string): number =>
        samples(body, 'ebpf_exporter_timer_starts_total').reduce((s, x) => s + x.value, 0);

      // 2 × 10,000: each client process stays under its own RLIMIT_NOFILE.
      const perClient = 10_000;
      const t0 = performance.now();
      const started = await Promise.all(
        [0, 1].map(() => fixture('idle-clients.ts', [String(agent.port), String(perClient)])),
      );
      for (const s of started) clients.push(s.child);
      const openPhase = performance.now() - t0;
      const tried = started.map((s) => s.first as { opened: number; failed: number; closedByServer: number });
      let maxFds = 0;
      const scrapes: number[] = [];
      // While the sockets are held: scrapes get in, fds stay within the cap.
      for (let i = 0; i < 10; i++) {
        maxFds = Math.max(maxFds, procSample(pid, 0).fds);
        const a = await scrape(agent.port, true, 20_000);
        assert.equal(a.status, 200, `scrape ${i} during the idle flood`);
        scrapes.push(a.ms);
        await delay(300);
      }
      const during = await text(agent.port);
      const dropped = samples(during, 'ebpf_collector_prometheus_connections_dropped_total');
      const evicted = dropped.find((s) => s.labels['reason'] === 'evicted')?.value ?? 0;
      const emfile = agent.logs.filter((l) => /EMFILE|too many open files/i.test(l));
      console.log(
        [
          `idle connections (${machine()}): agent RLIMIT_NOFILE ${limit}, connection cap ${cap}`,
          `  ${tried.reduce((s, t) => s + t.opened, 0)} of ${2 * perClient} connections opened in ${(openPhase / 1000).toFixed(1)} s (${tried.reduce((s, t) => s + t.failed, 0)} failed to connect), ${evicted} evicted by the agent`,
          `  agent fds ${fdsBase} before, at most ${maxFds} while held; scrapes while held: max ${Math.max(...scrapes).toFixed(0)} ms`,
          `  ${emfile.length} EMFILE log lines; ${dropped.map((d) => `${d.labels['reason']} ${d.value}`).join(', ')}`,
        ].join('\n'),
      );
      assert.ok(maxFds <= fdsBase + cap + 16, `agent fds ${maxFds} within base ${fdsBase} + cap ${cap}`);
      assert.ok(evicted >= 2 * perClient - cap - 100, `${evicted} evicted`);
      assert.deepEqual(emfile, []);
      assert.ok(timerSum(during) > timerSum(before), 'the agent kept collecting (timer counters moved)');
    } finally {
      await Promise.all(clients.map(stop));
      await agent.stop();
    }
  });
});
