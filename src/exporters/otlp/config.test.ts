import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfigFiles } from '../../config/load.ts';
import { validateComponentConfig } from '../../config/validate.ts';
import { CollectorErrors } from '../../errors.ts';
import { configSchema, parseEndpoint, type OtlpExporterConfig } from './config.ts';
import { otlpExporterFactory } from './factory.ts';
import { channelCredentials, isPlaintext } from './tls.ts';

const td = (name: string): string => relative(process.cwd(), join(import.meta.dirname, 'testdata', name));

async function check(name: string, id: string) {
  const file = td(name);
  const loaded = await loadConfigFiles([file], {});
  const r = validateComponentConfig(configSchema, loaded, ['exporters', id]);
  return { file, value: r.value, lines: r.errors.map((e) => e.format()) };
}

describe('otlp config', () => {
  it('a minimal config gets every default from the schema', async () => {
    const { value, lines } = await check('good-minimal.yaml', 'otlp');
    assert.deepEqual(lines, []);
    assert.deepEqual(value, {
      endpoint: { target: 'otel-collector:4317', tls: undefined },
      tls: { insecure: false, insecure_skip_verify: false },
      headers: {},
      compression: 'gzip',
      timeout: 10_000,
      interval: 15_000,
      histograms: 'explicit',
      attribute_names: 'semantic',
      retry_on_failure: {
        enabled: true,
        initial_interval: 1_000,
        max_interval: 30_000,
        multiplier: 1.5,
        randomization_factor: 0.5,
        max_elapsed_time: 300_000,
      },
      sending_queue: {
        enabled: true,
        num_consumers: 1,
        queue_size: 10_000,
        batch: { flush_timeout: 200, max_size: 512 },
      },
    });
    assert.equal(isPlaintext(value as OtlpExporterConfig), false, 'TLS unless insecure');
  });

  it('a full config parses to milliseconds and a gRPC target', async () => {
    const { value, lines } = await check('good-full.yaml', 'otlp');
    assert.deepEqual(lines, []);
    assert.deepEqual(value, {
      endpoint: { target: 'otel.example.com:4317', tls: true },
      tls: { insecure: false, insecure_skip_verify: false, ca_file: 'ca.pem' },
      headers: { authorization: 'Bearer abc123', 'x-scope-orgid': 'node-team' },
      compression: 'none',
      timeout: 5_000,
      interval: 30_000,
      histograms: 'exponential',
      attribute_names: 'semantic',
      retry_on_failure: {
        enabled: true,
        initial_interval: 500,
        max_interval: 10_000,
        multiplier: 1.5,
        randomization_factor: 0.5,
        max_elapsed_time: 120_000,
      },
      sending_queue: {
        enabled: true,
        num_consumers: 1,
        queue_size: 10_000,
        batch: { flush_timeout: 200, max_size: 512 },
      },
    });
  });

  it("accepts the Collector's own keys with their meanings", async () => {
    const { value, lines } = await check('good-collector.yaml', 'otlp/collector');
    assert.deepEqual(lines, []);
    const c = value as OtlpExporterConfig;
    assert.deepEqual(c.tls, {
      insecure: false,
      insecure_skip_verify: true,
      ca_file: 'ca.pem',
      cert_file: 'client.pem',
      key_file: 'client-key.pem',
    });
    assert.equal(c.timeout, 30_000);
    assert.deepEqual(c.sending_queue, {
      enabled: true,
      num_consumers: 4,
      queue_size: 5000,
      batch: { flush_timeout: 200, max_size: 512 },
    });
    assert.deepEqual(c.retry_on_failure, {
      enabled: true,
      initial_interval: 5_000,
      max_interval: 30_000,
      max_elapsed_time: 0,
      multiplier: 2,
      randomization_factor: 0.1,
    });
  });

  it('Collector keys it cannot honour are errors that say why', async () => {
    const { file, lines } = await check('bad-collector.yaml', 'otlp/collector');
    assert.deepEqual(
      lines,
      [
        ":6:20: exporters.otlp/collector.tls.min_version: not supported: Node's TLS 1.2 minimum is used [ERR_CONFIG_VALUE]",
        ':7:15: exporters.otlp/collector.tls.ca_pem: not supported: give the CA as a file (ca_file) [ERR_CONFIG_VALUE]',
        ':9:16: exporters.otlp/collector.sending_queue.enabled: not supported: the queue cannot be turned off (kernel events cannot wait for a send); bound it with queue_size [ERR_CONFIG_VALUE]',
        ':10:22: exporters.otlp/collector.sending_queue.num_consumers: expected a value >= 1, got 0 [ERR_CONFIG_VALUE]',
        ':11:16: exporters.otlp/collector.sending_queue.storage: not supported: there is no persistent queue; records are held in memory [ERR_CONFIG_VALUE]',
        ':13:19: exporters.otlp/collector.retry_on_failure.multiplier: expected a value >= 1, got 0.5 [ERR_CONFIG_VALUE]',
      ].map((l) => file + l),
    );
  });

  it('reports every bad value at once, with position, path and code', async () => {
    const { file, lines } = await check('bad-values.yaml', 'otlp/bad');
    assert.deepEqual(
      lines,
      [
        ':3:15: exporters.otlp/bad.endpoint: expected an endpoint like "otel-collector:4317" or "https://otel.example.com:4317", got "http://otel-collector:4317/v1/metrics": gRPC endpoints take no path; remove it [ERR_CONFIG_VALUE]',
        ':5:7: exporters.otlp/bad.tls.insecur: unknown key; expected one of insecure, insecure_skip_verify, ca_file, cert_file, key_file, ca_pem, cert_pem, key_pem, min_version, max_version, cipher_suites, reload_interval, server_name_override, include_system_ca_certs_pool (did you mean "insecure"?) [ERR_CONFIG_UNKNOWN_KEY]',
        ':7:7: exporters.otlp/bad.headers.x tenant: header name "x tenant" may hold only letters, digits, "-", "_" and "." [ERR_CONFIG_VALUE]',
        ':8:7: exporters.otlp/bad.headers.grpc-timeout: header name "grpc-timeout" must not start with "grpc-" (reserved by gRPC) [ERR_CONFIG_VALUE]',
        ':9:18: exporters.otlp/bad.compression: expected one of gzip, none, got "brotli" [ERR_CONFIG_ENUM]',
        ':10:14: exporters.otlp/bad.timeout: expected a duration like "15s", got 10 (number) [ERR_CONFIG_TYPE]',
        ':11:15: exporters.otlp/bad.interval: expected a duration of at least 100ms, got "10ms" [ERR_CONFIG_VALUE]',
        ':13:16: exporters.otlp/bad.retry_on_failure.enabled: expected a boolean, got "yes" (string) [ERR_CONFIG_TYPE]',
        ':14:25: exporters.otlp/bad.retry_on_failure.max_elapsed_time: expected a duration like "15s", got "forever": units are ns, us, ms, s, m, h, e.g. "1m30s" [ERR_CONFIG_VALUE]',
      ].map((l) => file + l),
    );
  });

  it('reports contradictions between keys at the key to change', async () => {
    const { file, lines } = await check('bad-tls.yaml', 'otlp/tls');
    assert.deepEqual(
      lines,
      [
        ':5:17: exporters.otlp/tls.tls.insecure: insecure: true contradicts the https:// endpoint; use http:// or drop insecure [ERR_CONFIG_VALUE]',
        ':6:18: exporters.otlp/tls.tls.cert_file: cert_file needs key_file too (mutual TLS takes both) [ERR_CONFIG_VALUE]',
        ':9:21: exporters.otlp/tls.retry_on_failure.max_interval: max_interval must not be shorter than initial_interval [ERR_CONFIG_VALUE]',
      ].map((l) => file + l),
    );
  });

  it('endpoint is required (a push exporter has no default destination)', async () => {
    const { file, lines } = await check('bad-missing.yaml', 'otlp');
    assert.deepEqual(lines, [
      `${file}:3:5: exporters.otlp.endpoint: missing required key; expected an endpoint like "otel-collector:4317" or "https://otel.example.com:4317" [ERR_CONFIG_MISSING]`,
    ]);
  });

  it('endpoint forms', () => {
    const table: [string, ReturnType<typeof parseEndpoint>][] = [
      ['localhost:4317', { target: 'localhost:4317', tls: undefined }],
      ['[::1]:4317', { target: '[::1]:4317', tls: undefined }],
      ['http://127.0.0.1:4317', { target: '127.0.0.1:4317', tls: false }],
      ['https://otel.example.com', { target: 'otel.example.com', tls: true }],
      ['HTTPS://otel.example.com:443/', { target: 'otel.example.com', tls: true }],
      ['https://[::1]:4317', { target: '[::1]:4317', tls: true }],
      ['http://collector', 'the port is missing (OTLP/gRPC listens on 4317)'],
      ['grpc://collector:4317', 'the scheme must be http:// or https://, got "grpc://"'],
      [':4317', 'the host is missing'],
      ['collector:0', 'the port must not be 0'],
      ['collector', 'the port is missing'],
      ['https://u:p@collector:4317', 'put credentials in headers, not in the URL'],
    ];
    for (const [input, want] of table) assert.deepEqual(parseEndpoint(input), want, input);
  });

  it('plaintext cannot take TLS files', () => {
    const r = configSchema.safeParse({ endpoint: 'http://c:4317', tls: { ca_file: 'ca.pem' } });
    assert.equal(r.success, false);
    assert.deepEqual(
      r.error?.issues.map((i) => [i.path.join('.'), i.message]),
      [['tls.ca_file', 'ca_file needs TLS, but the endpoint is plaintext (http://)']],
    );
    const skip = configSchema.safeParse({
      endpoint: 'c:4317',
      tls: { insecure: true, insecure_skip_verify: true },
    });
    assert.deepEqual(
      skip.error?.issues.map((i) => [i.path.join('.'), i.message]),
      [
        [
          'tls.insecure_skip_verify',
          'insecure_skip_verify needs TLS, but the endpoint is plaintext (insecure: true)',
        ],
      ],
    );
    const ok = configSchema.parse({ endpoint: 'c:4317', tls: { insecure: true } });
    assert.equal(isPlaintext(ok), true);
  });

  it('create() reads the TLS files now and reports unreadable or bad ones as config errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'otlp-tls-'));
    try {
      const settings = { id: 'otlp/x', logger: undefined as never, configDir: dir };
      const missing = configSchema.parse({ endpoint: 'c:4317', tls: { ca_file: 'nope.pem' } });
      assert.throws(
        () => otlpExporterFactory.create(settings, missing),
        (err: unknown) => {
          assert.ok(err instanceof CollectorErrors);
          assert.deepEqual(
            err.errors.map((e) => e.format()),
            [
              'exporters.otlp/x.tls.ca_file: "nope.pem" cannot be read: no such file or directory (ENOENT) [ERR_CONFIG_VALUE]',
            ],
          );
          return true;
        },
      );
      // Bounded reads: a device or a FIFO is refused at once, never read without end.
      execFileSync('mkfifo', [join(dir, 'fifo.pem')]);
      const special = configSchema.parse({
        endpoint: 'c:4317',
        tls: { ca_file: '/dev/zero', cert_file: 'fifo.pem', key_file: 'fifo.pem' },
      });
      assert.throws(
        () => otlpExporterFactory.create(settings, special),
        (err: unknown) => {
          assert.ok(err instanceof CollectorErrors);
          assert.deepEqual(
            err.errors.map((e) => e.format()),
            [
              'exporters.otlp/x.tls.ca_file: "/dev/zero" is not a regular file (a character device); give the path of a file [ERR_CONFIG_VALUE]',
              'exporters.otlp/x.tls.cert_file: "fifo.pem" is not a regular file (a FIFO); give the path of a file [ERR_CONFIG_VALUE]',
              'exporters.otlp/x.tls.key_file: "fifo.pem" is not a regular file (a FIFO); give the path of a file [ERR_CONFIG_VALUE]',
            ],
          );
          return true;
        },
      );
      writeFileSync(join(dir, 'garbage.pem'), 'not a certificate\n');
      const garbage = configSchema.parse({ endpoint: 'c:4317', tls: { ca_file: 'garbage.pem' } });
      assert.throws(
        () => channelCredentials(garbage, dir, 'exporters.otlp'),
        (err: unknown) => {
          assert.ok(err instanceof CollectorErrors);
          assert.deepEqual(
            err.errors.map((e) => e.format()),
            [
              'exporters.otlp.tls.ca_file: "garbage.pem": holds no PEM certificate (-----BEGIN CERTIFICATE-----) [ERR_CONFIG_VALUE]',
            ],
          );
          return true;
        },
      );
      // Plaintext reads nothing.
      const plain = configSchema.parse({ endpoint: 'http://c:4317' });
      assert.ok(channelCredentials(plain, dir, 'exporters.otlp'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
