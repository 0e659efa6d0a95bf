import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startOtlpReceiver, type OtlpReceiver } from '../../../test/helpers/otlp-receiver.ts';
import { configSchema } from './config.ts';
import { channelCredentials } from './tls.ts';
import { grpcWire, type OtlpTransport, type OtlpWire } from './transport.ts';

/**
 * The OTLP/gRPC transport against a real receiver that goes away and comes back on its port:
 * an attempt that finds no connection says so, and the retry wait after it ends as soon as
 * the channel reaches the receiver again (its reconnects are capped so that one comes within
 * max_interval), not at the end of the backoff. An attempt that failed over a connection (an
 * error answered, the connection dropped) is not "unconnected": the sender keeps its backoff.
 */

const UNAVAILABLE = 14;
const EMPTY = new Uint8Array(0); // an empty ExportTraceServiceRequest

function wireTo(endpoint: string, maxInterval = '1s'): OtlpWire {
  const config = configSchema.parse({
    endpoint: `http://${endpoint}`,
    timeout: '2s',
    retry_on_failure: { initial_interval: '50ms', max_interval: maxInterval },
  });
  return grpcWire(config, channelCredentials(config, '.', 'exporters.otlp'));
}

/** The transport's retry wait (the gRPC one has it). */
function retryWait(transport: OtlpTransport, ms: number, signal: AbortSignal): Promise<boolean> {
  if (transport.retryWait === undefined) throw new Error('the gRPC transport waits for its channel');
  return transport.retryWait(ms, signal);
}

/** A port nothing listens on (a receiver that was there and is gone). */
async function gonePort(): Promise<number> {
  const r = await startOtlpReceiver();
  await r.close();
  return Number(r.endpoint.split(':')[1]);
}

describe('OTLP/gRPC transport', () => {
  const receivers: OtlpReceiver[] = [];
  after(async () => {
    for (const r of receivers) await r.close();
  });

  it('an attempt that found no connection says so; the retry wait ends when the receiver is back', async () => {
    const port = await gonePort();
    const wire = wireTo(`127.0.0.1:${port}`);
    const transport = wire.open('traces');
    try {
      const refused = await transport.call('traces', EMPTY);
      assert.equal(refused.ok, false);
      assert.equal(!refused.ok && refused.unconnected, true, 'refused: no connection');

      const started = Date.now();
      const waiting = retryWait(transport, 20_000, new AbortController().signal);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const back = Date.now();
      receivers.push(await startOtlpReceiver({ port }));
      assert.equal(await waiting, true);
      const waited = Date.now() - started;
      // The channel's reconnect backoff is capped at max_interval / 1.2 (grpc-js adds ±20 %):
      // it reaches the receiver within about one max_interval (1 s) of its return; 20 s is the
      // backoff it did not wait out.
      assert.ok(Date.now() - back < 5_000, `the wait ended ${Date.now() - back} ms after the return`);
      assert.ok(waited >= 250, `it waited for the receiver (${waited} ms)`);
      const ok = await transport.call('traces', EMPTY);
      assert.equal(ok.ok, true, 'the next attempt goes through');
    } finally {
      wire.release();
    }
  });

  it('the retry wait ends at its time when nothing comes back, and at once when aborted', async () => {
    const port = await gonePort();
    const wire = wireTo(`127.0.0.1:${port}`);
    const transport = wire.open('traces');
    try {
      let started = Date.now();
      assert.equal(await retryWait(transport, 300, new AbortController().signal), true);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 290, `waited its time (${elapsed} ms)`);

      const abort = new AbortController();
      started = Date.now();
      const waiting = retryWait(transport, 20_000, abort.signal);
      setTimeout(() => abort.abort(), 100);
      assert.equal(await waiting, false, 'aborted');
      assert.ok(Date.now() - started < 5_000, 'ended at the abort');
    } finally {
      wire.release();
    }
  });

  it('a failure over a connection is not unconnected: an error answered, a connection dropped', async () => {
    const receiver = await startOtlpReceiver();
    const wire = wireTo(receiver.endpoint);
    const transport = wire.open('traces');
    try {
      // The first call finds the channel idle; it connects, and the receiver answers an error.
      receiver.failNextEvents('traces', UNAVAILABLE);
      const answered = await transport.call('traces', EMPTY);
      assert.equal(answered.ok, false);
      assert.equal(!answered.ok && answered.unconnected, undefined, 'the receiver answered');
      assert.equal((await transport.call('traces', EMPTY)).ok, true);
      // The receiver takes a request and goes away before answering.
      receiver.hold('traces');
      const pending = transport.call('traces', EMPTY);
      await receiver.waitForEventCalls('traces', 3);
      await receiver.close();
      const dropped = await pending;
      assert.equal(dropped.ok, false);
      assert.equal(!dropped.ok && dropped.unconnected, undefined, 'it had a connection');
      // Then nothing listens: the next attempt has no connection.
      const refused = await transport.call('traces', EMPTY);
      assert.equal(!refused.ok && refused.unconnected, true, 'refused');
    } finally {
      wire.release();
    }
  });
});
