/** The otlp exporter's metrics over TLS, and without a receiver (refused, black hole, shutdown bounds). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { startOtlpReceiver, type OtlpReceiver } from '../../../test/helpers/otlp-receiver.ts';
import {
  batch,
  closedPort,
  counterFamily,
  rig,
  rigOf,
  type Rig,
} from '../../../test/helpers/otlp-metrics-rig.ts';
import { until } from '../../../test/helpers/until.ts';
import { configSchema } from './config.ts';

describe('otlp exporter over TLS', () => {
  // testdata/tls-{cert,key}.pem: a self-signed test certificate for localhost and 127.0.0.1 (100 years):
  // openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 -subj /CN=localhost \
  //   -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout tls-key.pem -out tls-cert.pem
  const testdata = join(import.meta.dirname, 'testdata');
  const tls = {
    cert: readFileSync(join(testdata, 'tls-cert.pem')),
    key: readFileSync(join(testdata, 'tls-key.pem')),
  };

  /**
   * Starts a TLS receiver and an exporter at `endpoint(port)` (the exporter's config beside the
   * test certificate), sends one collection, runs `check`, then shuts both down.
   */
  async function overTls(
    endpoint: (port: string) => string,
    extra: Record<string, unknown>,
    check: (r: Rig, receiver: OtlpReceiver) => Promise<void>,
  ): Promise<void> {
    const receiver = await startOtlpReceiver({ tls });
    try {
      const port = receiver.endpoint.split(':')[1] ?? '';
      const config = configSchema.parse({
        endpoint: endpoint(port),
        interval: '1h',
        timeout: '2s',
        ...extra,
      });
      const r = rigOf(config, 'otlp', testdata);
      await r.exporter.start(r.host);
      r.input.next(batch([counterFamily()]));
      await r.exporter.tick();
      await check(r, receiver);
      await r.exporter.shutdown();
    } finally {
      await receiver.close();
    }
  }

  async function delivered(r: Rig, receiver: OtlpReceiver): Promise<void> {
    const [call] = await receiver.waitForCalls(1);
    assert.ok(call && receiver.metricsOf(call).some((m) => m.name === 'timer_starts_total'));
    await r.exporter.idle();
    assert.equal(r.count('success'), 1);
  }

  it('a host:port endpoint uses TLS; ca_file makes the server trusted', async () => {
    await overTls((port) => `localhost:${port}`, { tls: { ca_file: 'tls-cert.pem' } }, delivered);
  });

  it('tls.insecure_skip_verify: true sends to the self-signed server without ca_file', async () => {
    // The certificate is signed by nobody the system trusts: only skipping verification lets it through.
    await overTls(
      (port) => `https://127.0.0.1:${port}`,
      { tls: { insecure_skip_verify: true }, retry_on_failure: { enabled: false } },
      delivered,
    );
  });

  it('without ca_file the self-signed server is not trusted: counted as a failure, nothing received', async () => {
    await overTls(
      (port) => `https://localhost:${port}`,
      { retry_on_failure: { enabled: false } },
      async (r, receiver) => {
        await r.exporter.idle();
        assert.equal(r.count('failure'), 1);
        assert.equal(receiver.calls.length, 0);
        assert.ok(receiver.wireBytesIn() > 0, 'it did connect');
      },
    );
  });
});

describe('otlp exporter without a receiver', () => {
  it('an unreachable endpoint is counted, nothing throws, shutdown returns in time', async () => {
    const port = await closedPort();
    const r = rig(`127.0.0.1:${port}`, {
      timeout: '500ms',
      retry_on_failure: { initial_interval: '20ms', max_interval: '40ms', max_elapsed_time: '200ms' },
    });
    await r.exporter.start(r.host);
    r.input.next(batch([counterFamily()]));
    await r.exporter.tick();
    await until(() => r.count('failure') === 1, 'the export to give up');
    assert.ok((r.count('retry') ?? 0) >= 2, `retries: ${r.count('retry')}`);
    assert.equal(r.count('success'), 0);
    assert.ok(r.dropped('export_failed') > 0);
    assert.equal(r.dropped('export_failed'), r.exporter.produced, 'the whole collection, point by point');
    const t0 = Date.now();
    await r.exporter.shutdown();
    assert.ok(Date.now() - t0 < 700, `shutdown took ${Date.now() - t0}ms`);
  });

  it('a server that accepts but never answers: shutdown is bounded by timeout', async () => {
    const sockets = new Set<Socket>();
    const blackhole = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const port = (blackhole.address() as { port: number }).port;
    try {
      const r = rig(`127.0.0.1:${port}`, { timeout: '400ms' });
      await r.exporter.start(r.host);
      r.input.next(batch([counterFamily()]));
      await r.exporter.tick();
      const t0 = Date.now();
      await r.exporter.shutdown();
      const took = Date.now() - t0;
      assert.ok(took < 400 + 250, `shutdown took ${took}ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => blackhole.close(() => resolve()));
    }
  });

  it('shutdown is safe before start and twice', async () => {
    const r = rig('127.0.0.1:4317');
    await r.exporter.shutdown();
    await r.exporter.shutdown();
    await r.exporter.start(r.host); // after shutdown: does nothing
    await r.exporter.tick();
    assert.equal(r.host.pulls, 0);

    const s = rig(`127.0.0.1:${await closedPort()}`, { timeout: '300ms' });
    await s.exporter.start(s.host);
    await Promise.all([s.exporter.shutdown(), s.exporter.shutdown()]);
    await s.exporter.shutdown();
  });

  it('a failing pull still sends the last data read', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const r = rig(receiver.endpoint);
      r.host.pull = async () => {
        throw new Error('map read failed');
      };
      await r.exporter.start(r.host);
      r.input.next(batch([counterFamily()]));
      await r.exporter.tick();
      const [call] = await receiver.waitForCalls(1);
      assert.ok(call && receiver.metricsOf(call).some((m) => m.name === 'timer_starts_total'));
      await r.exporter.shutdown();
    } finally {
      await receiver.close();
    }
  });
});
