import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfigFiles } from '../../config/load.ts';
import { validateComponentConfig } from '../../config/validate.ts';
import { configSchema, signalUrl, urlProblem, usesTls, type OtlpHttpExporterConfig } from './config.ts';

const td = (name: string): string => relative(process.cwd(), join(import.meta.dirname, 'testdata', name));

async function check(name: string, id: string) {
  const file = td(name);
  const loaded = await loadConfigFiles([file], {});
  const r = validateComponentConfig(configSchema, loaded, ['exporters', id]);
  return { file, value: r.value as OtlpHttpExporterConfig, lines: r.errors.map((e) => e.format()) };
}

describe('otlphttp config', () => {
  it('a minimal config: every default from the shared otlp schema, URLs per signal', async () => {
    const { value, lines } = await check('good-minimal.yaml', 'otlphttp');
    assert.deepEqual(lines, []);
    assert.deepEqual(value, {
      endpoint: 'http://otel-collector:4318',
      tls: { insecure_skip_verify: false },
      headers: {},
      encoding: 'proto',
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
    assert.equal(signalUrl(value, 'metrics'), 'http://otel-collector:4318/v1/metrics');
    assert.equal(usesTls(value), false);
  });

  it("a Collector-style config: the base path is kept, a signal's own URL wins", async () => {
    const { value, lines } = await check('good-full.yaml', 'otlphttp/full');
    assert.deepEqual(lines, []);
    assert.equal(signalUrl(value, 'metrics'), 'https://otel.example.com/otlp/v1/metrics');
    assert.equal(signalUrl(value, 'logs'), 'https://otel.example.com/otlp/v1/logs');
    assert.equal(signalUrl(value, 'traces'), 'https://traces.example.com/v1/traces');
    assert.equal(usesTls(value), true);
    assert.deepEqual(value.headers, { authorization: 'Bearer abc123', 'X-Scope-OrgID': 'node-team' });
    assert.equal(value.sending_queue.num_consumers, 2);
    assert.equal(value.retry_on_failure.max_elapsed_time, 120_000);
  });

  it('reports every bad value at once, with position, path and code', async () => {
    const { file, lines } = await check('bad-values.yaml', 'otlphttp/bad');
    assert.deepEqual(
      lines,
      [
        ':4:15: exporters.otlphttp/bad.endpoint: expected a URL like "http://otel-collector:4318" or "https://otel.example.com", got "grpc://otel-collector:4317": the scheme must be http:// or https://, got "grpc://" [ERR_CONFIG_VALUE]',
        ':5:20: exporters.otlphttp/bad.logs_endpoint: expected a URL like "http://otel-collector:4318" or "https://otel.example.com", got "http://collector:4318/v1/logs?tenant=a": OTLP/HTTP URLs take no query or fragment [ERR_CONFIG_VALUE]',
        ':7:17: exporters.otlphttp/bad.tls.insecure: not supported: the URL scheme decides: http:// is plaintext, https:// is TLS [ERR_CONFIG_VALUE]',
        ':9:7: exporters.otlphttp/bad.headers.x tenant: header name "x tenant" is not an HTTP header name (letters, digits and !#$%&\'*+.^_`|~-) [ERR_CONFIG_VALUE]',
        ':10:7: exporters.otlphttp/bad.headers.content-type: header name "content-type" is set by the exporter itself [ERR_CONFIG_VALUE]',
        ':11:15: exporters.otlphttp/bad.encoding: not supported: only encoding: proto (http/protobuf) [ERR_CONFIG_VALUE]',
        ':12:18: exporters.otlphttp/bad.compression: expected one of gzip, none, got "zstd" [ERR_CONFIG_ENUM]',
      ].map((l) => file + l),
    );
  });

  it('needs endpoint or a signal URL', async () => {
    const { file, lines } = await check('bad-missing.yaml', 'otlphttp');
    assert.deepEqual(lines, [
      `${file}:3:5: exporters.otlphttp.endpoint: missing required key; expected a URL like "http://otel-collector:4318" or "https://otel.example.com" (or metrics_endpoint, traces_endpoint, logs_endpoint) [ERR_CONFIG_MISSING]`,
    ]);
    const traces = configSchema.parse({ traces_endpoint: 'http://c:4318/v1/traces' });
    assert.equal(signalUrl(traces, 'traces'), 'http://c:4318/v1/traces');
    assert.equal(signalUrl(traces, 'metrics'), undefined);
  });

  it('TLS files with only http:// URLs, and half a client certificate, are errors at the key', async () => {
    const { file, lines } = await check('bad-plaintext.yaml', 'otlphttp');
    assert.deepEqual(
      lines,
      [
        ':5:16: exporters.otlphttp.tls.ca_file: ca_file needs TLS, but the endpoint is plaintext (http://) [ERR_CONFIG_VALUE]',
        ':6:18: exporters.otlphttp.tls.cert_file: cert_file needs TLS, but the endpoint is plaintext (http://) [ERR_CONFIG_VALUE]',
        ':6:18: exporters.otlphttp.tls.cert_file: cert_file needs key_file too (mutual TLS takes both) [ERR_CONFIG_VALUE]',
      ].map((l) => file + l),
    );
  });

  it('URL forms', () => {
    assert.equal(urlProblem('http://collector:4318'), undefined);
    assert.equal(urlProblem('https://[::1]/otlp'), undefined);
    assert.equal(urlProblem('collector:4318'), 'the scheme is missing: start with http:// or https://');
    assert.equal(
      urlProblem('grpc://collector:4317'),
      'the scheme must be http:// or https://, got "grpc://"',
    );
    assert.equal(urlProblem('http://exa mple'), 'not a valid URL');
    assert.equal(urlProblem('https://u:p@collector'), 'put credentials in headers, not in the URL');
  });
});
