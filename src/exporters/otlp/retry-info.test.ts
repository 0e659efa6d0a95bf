import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Metadata } from '@grpc/grpc-js';
import { batch, final, rig, type Rig } from '../../../test/helpers/otlp-metrics-rig.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../../../test/helpers/otlp-receiver.ts';
import { statusWithRetryInfo } from '../../../test/helpers/otlp-wire.ts';
import { retryDecision, serverDelayMs, isRetryable } from './retry.ts';
import { retryDelayMs, STATUS_DETAILS_KEY } from './retry-info.ts';

const UNAVAILABLE = 14;
const RESOURCE_EXHAUSTED = 8;

/** A gRPC error as @grpc/grpc-js gives it: code, details, the trailers. */
function grpcError(code: number, retryMs?: number): Error {
  const metadata = new Metadata();
  if (retryMs !== undefined) metadata.set(STATUS_DETAILS_KEY, statusWithRetryInfo(code, 'busy', retryMs));
  return Object.assign(new Error('busy'), { code, details: 'busy', metadata });
}

const policy = {
  enabled: true,
  initial_interval: 1_000,
  max_interval: 5_000,
  multiplier: 1.5,
  randomization_factor: 0,
  max_elapsed_time: 0,
};

describe('gRPC RetryInfo', () => {
  it('reads retry_delay from a serialized google.rpc.Status (written by an independent encoder)', () => {
    assert.equal(retryDelayMs(statusWithRetryInfo(UNAVAILABLE, 'busy', 1_500)), 1_500);
    assert.equal(retryDelayMs(statusWithRetryInfo(UNAVAILABLE, 'busy', 0)), 0);
    assert.equal(retryDelayMs(statusWithRetryInfo(UNAVAILABLE, 'busy', 90_250)), 90_250);
  });

  it('no RetryInfo, or bytes that are not a Status: undefined (the backoff applies)', () => {
    // A Status with code and message only.
    assert.equal(retryDelayMs(Uint8Array.from([0x08, 14, 0x12, 1, 0x78])), undefined);
    assert.equal(retryDelayMs(Uint8Array.from([0x1a, 50, 1, 2])), undefined, 'truncated');
    assert.equal(retryDelayMs(Uint8Array.from([0xff])), undefined, 'truncated varint');
    assert.equal(retryDelayMs(new Uint8Array()), undefined);
  });

  it('the asked wait replaces the backoff, capped at max_interval; RESOURCE_EXHAUSTED only with one', () => {
    assert.equal(serverDelayMs(grpcError(UNAVAILABLE, 200)), 200);
    assert.equal(serverDelayMs(grpcError(UNAVAILABLE)), undefined);
    assert.equal(retryDecision(grpcError(UNAVAILABLE, 200), 5, Date.now(), policy, false).delay, 200);
    assert.equal(retryDecision(grpcError(UNAVAILABLE, 3_600_000), 0, Date.now(), policy, false).delay, 5_000);
    assert.equal(retryDecision(grpcError(UNAVAILABLE), 0, Date.now(), policy, false).delay, 1_000);
    assert.equal(isRetryable(grpcError(RESOURCE_EXHAUSTED)), false);
    assert.equal(isRetryable(grpcError(RESOURCE_EXHAUSTED, 100)), true);
    assert.equal(
      retryDecision(grpcError(RESOURCE_EXHAUSTED), 0, Date.now(), policy, false).giveUp,
      'not retryable',
    );
  });
});

describe('gRPC RetryInfo from a real OTLP/gRPC receiver', () => {
  let receiver: OtlpReceiver;
  before(async () => {
    receiver = await startOtlpReceiver();
  });
  after(async () => {
    await receiver.close();
  });

  /** An exporter with this retry policy, started, with one collection of one point being sent. */
  async function exportOnce(retry: Record<string, unknown>): Promise<Rig> {
    const r = rig(receiver.endpoint, { retry_on_failure: retry });
    await r.exporter.start(r.host);
    r.input.next(
      batch([
        {
          name: 'calls_total',
          help: 'h',
          kind: 'counter',
          startTimeMs: 1_000,
          points: [final({ comm: 'a' }, 3)],
        },
      ]),
    );
    await r.exporter.tick();
    return r;
  }

  it('UNAVAILABLE with a RetryInfo of 100 ms: retried after that, not after the 10-minute backoff', async () => {
    const before = receiver.calls.length;
    receiver.failNext({ code: UNAVAILABLE, retryDelayMs: 100 });
    const { exporter } = await exportOnce({ initial_interval: '10m', max_interval: '10m' });
    try {
      const t0 = Date.now();
      await receiver.waitForCalls(before + 2, 5_000);
      await exporter.idle();
      assert.ok(Date.now() - t0 >= 90, `waited ${Date.now() - t0} ms`);
      assert.deepEqual(
        receiver.calls.slice(before).map((c) => c.answered),
        [UNAVAILABLE, 0],
      );
    } finally {
      await exporter.shutdown();
    }
  });

  it('a RetryInfo of an hour is capped at max_interval', async () => {
    const before = receiver.calls.length;
    receiver.failNext({ code: UNAVAILABLE, retryDelayMs: 3_600_000 });
    const { exporter } = await exportOnce({ initial_interval: '50ms', max_interval: '50ms' });
    try {
      await receiver.waitForCalls(before + 2, 5_000);
      await exporter.idle();
    } finally {
      await exporter.shutdown();
    }
  });

  it('RESOURCE_EXHAUSTED: retried with a RetryInfo, given up at once without one', async () => {
    const before = receiver.calls.length;
    receiver.failNext({ code: RESOURCE_EXHAUSTED, retryDelayMs: 20 }, RESOURCE_EXHAUSTED);
    const r = await exportOnce({ initial_interval: '10ms', max_interval: '10ms' });
    try {
      await receiver.waitForCalls(before + 2, 5_000);
      await r.exporter.idle();
      await new Promise((resolve) => setTimeout(resolve, 100)); // several backoffs: no third call
      assert.equal(receiver.calls.length, before + 2);
      assert.equal(r.count('retry'), 1);
      assert.equal(r.count('failure'), 1);
      assert.ok(r.dropped('export_failed') > 0);
    } finally {
      await r.exporter.shutdown();
    }
  });
});
