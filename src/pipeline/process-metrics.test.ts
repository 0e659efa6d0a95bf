import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { registerProcessMetrics } from './process-metrics.ts';
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
