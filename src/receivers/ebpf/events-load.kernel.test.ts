import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { MetricBatch } from '../../pipeline/data.ts';
import { assemble } from '../../pipeline/assemble.ts';
import { SelfTelemetry } from '../../pipeline/telemetry.ts';
import { ebpfReceiverFactory } from './factory.ts';
import { configSchema } from './config.ts';
import type { EbpfReceiver } from './receiver.ts';
import { testHost } from '../../../test/helpers/host.ts';

/*
 * Load and backpressure: a C child makes exactly `total` getpgid(MARKER) calls
 * paced at `rate` per second; test/bpf/events_test.bpf.o (filtered on the
 * child's pid) emits one ring record per call.
 */

const root = join(import.meta.dirname, '..', '..', '..');
const OBJ = join(root, 'build', 'bpf', 'events_test.bpf.o');
const MARKER = 0x3fffffd1;
const logger = pino({ level: 'silent' });

const GENERATOR = `
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
  long marker = strtol(argv[1], 0, 0), total = atol(argv[2]), rate = atol(argv[3]);
  char go;
  if (read(0, &go, 1) != 1) return 1;
  long chunk = rate / 1000 > 0 ? rate / 1000 : 1, n = 0;
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  while (n < total) {
    for (long i = 0; i < chunk && n < total; i++, n++) syscall(SYS_getpgid, marker);
    t.tv_nsec += 1000000;
    if (t.tv_nsec >= 1000000000) { t.tv_sec++; t.tv_nsec -= 1000000000; }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, 0);
  }
  printf("%ld\\n", n);
  return 0;
}
`;

let dir = '';
let generator = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'events-load-'));
  writeFileSync(join(dir, 'gen.c'), GENERATOR);
  generator = join(dir, 'gen');
  execFileSync('gcc', ['-O2', '-o', generator, join(dir, 'gen.c')]);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Start the generator, paused until go(). */
function startGenerator(
  total: number,
  rate: number,
): { child: ChildProcess; go: () => void; done: Promise<number> } {
  const child = spawn(generator, [String(MARKER), String(total), String(rate)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(Number(out.trim())) : reject(new Error(`generator exited ${code}`)),
    );
  });
  return { child, go: () => child.stdin?.end('g'), done };
}

/** A /metrics-like endpoint over the receiver's self-telemetry, scraped during the load. */
function metricsServer(telemetry: SelfTelemetry): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => {
    const lines = telemetry
      .snapshot()
      .flatMap((f) =>
        f.points.map(
          (p) => `ebpf_exporter_${f.name}${JSON.stringify(p.labels)} ${'value' in p ? p.value : 0}`,
        ),
      );
    res.end(lines.join('\n'));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, port: (server.address() as { port: number }).port }),
    ),
  );
}

function scrape(port: number): Promise<{ ms: number; body: string }> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ ms: performance.now() - t, body }));
    }).on('error', reject);
  });
}

async function receiverFor(
  pid: number,
  events: Record<string, unknown>,
  withLogs: boolean,
): Promise<EbpfReceiver> {
  const parsed = configSchema.parse({
    program: OBJ,
    poll_interval: '1h',
    globals: { targ_tgid: pid, targ_marker: MARKER, targ_mode: 1 },
    events,
    metrics: {
      counters: [
        {
          name: 'load_records_total',
          help: 'records by comm',
          events: 'events',
          labels: [
            { name: 'pid', size: 4, padding: 4, decoders: [{ name: 'uint' }] },
            { name: 'comm', size: 16, decoders: [{ name: 'string' }] },
          ],
        },
      ],
    },
    ...(withLogs
      ? {
          logs: [
            {
              name: 'load',
              map: 'events',
              labels: [{ name: 'pid', size: 4, decoders: [{ name: 'uint' }] }],
              fields: [{ name: 'seq', offset: 4, size: 4 }],
            },
          ],
        }
      : {}),
  });
  return (await ebpfReceiverFactory.create(
    { id: 'ebpf/load', logger, configDir: root },
    parsed,
  )) as EbpfReceiver;
}

test('100k events/s for 10 s on a 4 MiB ring: every record counted, 0 kernel drops, scrapes answer, RSS bounded', async () => {
  const total = 1_000_000;
  const gen = startGenerator(total, 100_000);
  const telemetry = new SelfTelemetry();
  const r = await receiverFor(gen.child.pid as number, {}, false);
  const { server, port } = await metricsServer(telemetry);
  await r.start(testHost({ telemetry }));
  try {
    const rss0 = process.memoryUsage().rss;
    let rssMax = rss0;
    const scrapes: number[] = [];
    let running = true;
    const scraper = (async () => {
      while (running) {
        const s = await scrape(port);
        assert.match(s.body, /events_received_total/);
        scrapes.push(s.ms);
        rssMax = Math.max(rssMax, process.memoryUsage().rss);
        await new Promise((res) => setTimeout(res, 200));
      }
    })();
    const t0 = performance.now();
    gen.go();
    const made = await gen.done;
    const seconds = (performance.now() - t0) / 1000;
    await new Promise((res) => setTimeout(res, 150)); // one more drain interval
    r.events?.flush();
    running = false;
    await scraper;
    assert.equal(made, total);
    const stats = r.events?.stats()['events'];
    assert.deepEqual(stats, { received: total, kernelDropped: 0, dropped: 0, queued: 0 });
    let last: MetricBatch | undefined;
    const sub = r.output$.subscribe((b) => (last = b));
    await r.collectNow();
    sub.unsubscribe();
    const fam = assemble(last?.families ?? []).find((f) => f.name === 'load_records_total');
    assert.equal(fam?.points[0]?.labels['comm'], 'gen');
    assert.equal(
      fam?.points.reduce((n, p) => n + ('value' in p ? p.value : 0), 0),
      total,
    );
    assert.ok(seconds < 16, `generator paced at 100k/s took ${seconds.toFixed(1)} s`);
    assert.ok(scrapes.length >= 20, `only ${scrapes.length} scrapes answered during ${seconds.toFixed(1)} s`);
    assert.ok(Math.max(...scrapes) < 500, `slowest scrape ${Math.max(...scrapes).toFixed(0)} ms`);
    const grew = (rssMax - rss0) / 2 ** 20;
    assert.ok(grew < 64, `RSS grew ${grew.toFixed(0)} MiB`);
  } finally {
    await r.shutdown();
    server.close();
    gen.child.kill();
  }
});

test('slow sink: a full queue drops records and counts them; received = delivered + dropped; memory bounded', async () => {
  const total = 100_000;
  const gen = startGenerator(total, 100_000);
  const telemetry = new SelfTelemetry();
  const r = await receiverFor(gen.child.pid as number, { queue_size: 2048, batch_size: 256 }, true);
  let delivered = 0;
  let maxQueued = 0;
  r.logs$?.subscribe((b) => {
    delivered += b.records.length;
    maxQueued = Math.max(maxQueued, r.events?.stats()['events']?.queued ?? 0);
    const until = performance.now() + 10; // a sink that needs 10 ms per batch of ≤256 (≈25k/s)
    while (performance.now() < until);
  });
  await r.start(testHost({ telemetry }));
  try {
    gen.go();
    assert.equal(await gen.done, total);
    await new Promise((res) => setTimeout(res, 150));
    r.events?.flush();
    const stats = r.events?.stats()['events'];
    assert.ok(stats);
    assert.equal(stats.received, total);
    assert.equal(stats.kernelDropped, 0);
    assert.ok(stats.dropped > 0, 'a sink at ~25k/s under 100k/s must drop');
    assert.equal(delivered + stats.dropped, total, 'every record delivered or counted as dropped');
    assert.ok(maxQueued <= 2048);
    await r.collectNow();
    const dropped = telemetry.snapshot().find((f) => f.name === 'events_dropped_total');
    assert.deepEqual(dropped?.points, [
      { labels: { config: 'events_test', map: 'events', reason: 'queue_full' }, value: stats.dropped },
    ]);
  } finally {
    await r.shutdown();
    gen.child.kill();
  }
});
