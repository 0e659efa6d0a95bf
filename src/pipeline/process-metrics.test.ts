import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { readdirSync, readlinkSync } from 'node:fs';
import { registerProcessMetrics, ResidentMemory } from './process-metrics.ts';
import { SelfTelemetry } from './telemetry.ts';

function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // a synchronous block of the event loop
  }
}

test('event-loop lag: a 400 ms block reads 0.3–0.6 s in the next snapshot, then falls back', async () => {
  const telemetry = new SelfTelemetry();
  const stop = registerProcessMetrics(telemetry);
  try {
    const lag = (): number => {
      telemetry.snapshot();
      return telemetry.gauge('nodejs_eventloop_lag_seconds', '').value({}) as number;
    };
    await delay(250); // a few monitor ticks
    lag(); // start a fresh window
    await delay(150);
    block(400);
    await delay(250); // the tick after the block records it
    const blocked = lag();
    assert.ok(blocked >= 0.3 && blocked <= 0.6, `lag after a 400 ms block: ${blocked} s`);
    await delay(450);
    const quiet = lag();
    assert.ok(quiet < 0.25, `lag of a quiet window: ${quiet} s`);
  } finally {
    stop();
  }
});

test('rss, cpu and start time are read at each snapshot', () => {
  const telemetry = new SelfTelemetry();
  const stop = registerProcessMetrics(telemetry);
  try {
    telemetry.snapshot();
    const rss = telemetry.gauge('process_resident_memory_bytes', '').value({}) as number;
    assert.ok(rss > 10 * 2 ** 20 && rss < 4 * 2 ** 30, `rss ${rss}`);
    const cpu = telemetry.counter('process_cpu_seconds_total', '').value({}) as number;
    block(50);
    telemetry.snapshot();
    assert.ok((telemetry.counter('process_cpu_seconds_total', '').value({}) as number) > cpu);
    const start = telemetry.gauge('process_start_time_seconds', '').value({}) as number;
    assert.ok(Math.abs(start - (Date.now() / 1000 - process.uptime())) < 2);
  } finally {
    stop();
  }
});

function statmFds(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === `/proc/${process.pid}/statm`) n++;
    } catch {
      // the directory's own fd, gone by now
    }
  }
  return n;
}

test('resident memory read from statm through one open file equals rss() and follows it', () => {
  const resident = new ResidentMemory();
  try {
    const slack = 4 * 2 ** 20; // pages touched between the reads
    const near = (label: string): number => {
      const before = process.memoryUsage.rss();
      const value = resident.bytes();
      const after = process.memoryUsage.rss();
      assert.ok(
        value >= Math.min(before, after) - slack && value <= Math.max(before, after) + slack,
        `${label}: ${value} against rss() ${before}..${after}`,
      );
      return value;
    };
    const first = near('first read');
    // 128 MiB written (every page resident): the same open file reads the new size.
    const big = Buffer.alloc(128 * 2 ** 20, 1);
    const grown = near('after 128 MiB');
    assert.ok(grown - first > 100 * 2 ** 20, `grew by ${grown - first}`);
    assert.equal(big[big.length - 1], 1);
    assert.equal(statmFds(), 1, 'one file, opened once');
  } finally {
    resident.close();
  }
  assert.equal(statmFds(), 0, 'closed');
});

test('the process metrics close their statm file when stopped', () => {
  const telemetry = new SelfTelemetry();
  const stop = registerProcessMetrics(telemetry);
  telemetry.snapshot();
  assert.equal(statmFds(), 1);
  stop();
  assert.equal(statmFds(), 0);
});
