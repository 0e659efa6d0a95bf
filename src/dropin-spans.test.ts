import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { dropInConfig } from './dropin.ts';
import { spansExportFromEnv } from './dropin-spans.ts';
import { CollectorError, CollectorErrors } from './errors.ts';
import { agentConfigFrom } from './service.ts';

const repo = join(import.meta.dirname, '..');

describe('drop-in spans: the OTEL_* environment', () => {
  it('maps the standard variables to one exporter config', () => {
    const table: [Record<string, string>, ReturnType<typeof spansExportFromEnv>][] = [
      // Nothing set: upstream's autoexport defaults (otlp, http/protobuf, localhost:4318).
      [
        {},
        {
          exporter: { type: 'otlphttp', config: { endpoint: 'http://localhost:4318', compression: 'none' } },
        },
      ],
      [
        { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317' },
        { exporter: { type: 'otlp', config: { endpoint: 'http://collector:4317', compression: 'none' } } },
      ],
      [
        {
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
          OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
          OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317',
          OTEL_EXPORTER_OTLP_INSECURE: 'true',
          OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '2500',
          OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
        },
        {
          exporter: {
            type: 'otlp',
            config: {
              endpoint: 'collector:4317',
              tls: { insecure: true },
              timeout: '2500ms',
              compression: 'gzip',
            },
          },
        },
      ],
      [
        {
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://tempo.example.com/otlp/v1/traces',
          OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc,x-scope-orgid=node',
          OTEL_EXPORTER_OTLP_CERTIFICATE: '/etc/ca.pem',
        },
        {
          exporter: {
            type: 'otlphttp',
            config: {
              traces_endpoint: 'https://tempo.example.com/otlp/v1/traces',
              tls: { ca_file: '/etc/ca.pem' },
              headers: { authorization: 'Bearer abc', 'x-scope-orgid': 'node' },
              compression: 'none',
            },
          },
        },
      ],
      [{ OTEL_TRACES_EXPORTER: 'none' }, { unsent: 'OTEL_TRACES_EXPORTER=none' }],
      [
        { OTEL_TRACES_EXPORTER: 'console' },
        { unsent: 'OTEL_TRACES_EXPORTER=console (only otlp and none are supported)' },
      ],
    ];
    for (const [env, want] of table) assert.deepEqual(spansExportFromEnv(env), want, JSON.stringify(env));
  });

  it('bad values are errors that name the variable', () => {
    const table: [Record<string, string>, string][] = [
      [
        { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
        'OTEL_EXPORTER_OTLP_PROTOCOL: expected grpc or http/protobuf, got "http/json"',
      ],
      [
        { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' },
        'OTEL_EXPORTER_OTLP_ENDPOINT: the scheme is missing: start with http:// or https:// (got "collector:4318")',
      ],
      [
        { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'collector' },
        'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the port is missing (got "collector")',
      ],
      [
        { OTEL_EXPORTER_OTLP_TIMEOUT: '10s' },
        'OTEL_EXPORTER_OTLP_TIMEOUT: expected milliseconds (a whole number above 0), got "10s"',
      ],
      [
        { OTEL_EXPORTER_OTLP_HEADERS: 'novalue' },
        'OTEL_EXPORTER_OTLP_HEADERS: expected key=value pairs separated by commas, got "novalue"',
      ],
    ];
    for (const [env, message] of table) {
      assert.throws(
        () => spansExportFromEnv(env),
        (err: unknown) =>
          err instanceof CollectorError && err.code === 'ERR_DROPIN_OTEL_ENV' && err.message === message,
        JSON.stringify(env),
      );
    }
  });
});

describe('drop-in spans: the generated pipeline', () => {
  function dir(): string {
    const d = mkdtempSync(join(tmpdir(), 'dropin-spans-'));
    copyFileSync(join(repo, 'build', 'bpf', 'span_marker.bpf.o'), join(d, 'span_marker.bpf.o'));
    copyFileSync(join(repo, 'test', 'bpf', 'span_marker.yaml'), join(d, 'span_marker.yaml'));
    copyFileSync(join(repo, 'build', 'bpf', 'write_sizes.bpf.o'), join(d, 'write_sizes.bpf.o'));
    copyFileSync(join(repo, 'test', 'bpf', 'write_sizes.yaml'), join(d, 'write_sizes.yaml'));
    return d;
  }
  const flags = (d: string) => ({
    dir: d,
    names: ['span_marker', 'write_sizes'],
    listenAddress: '127.0.0.1:0',
    telemetryPath: '/metrics',
    strict: false,
  });

  it('configs with tracing.spans feed a traces pipeline to the exporter the environment selects', () => {
    const d = dir();
    try {
      const grpc = agentConfigFrom(
        dropInConfig(flags(d), {
          OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317',
        }),
      );
      assert.deepEqual(
        grpc.pipelines.map((p) => [p.id, p.receivers, p.exporters]),
        [
          ['metrics', ['ebpf/span_marker', 'ebpf/write_sizes'], ['prometheus']],
          ['traces', ['ebpf/span_marker'], ['otlp']],
        ],
      );
      assert.deepEqual(grpc.warnings, []);
      const http = agentConfigFrom(dropInConfig(flags(d), { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }));
      assert.deepEqual(http.pipelines[1]?.exporters, ['otlphttp']);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('spans and nothing to send them: no traces pipeline, one warning naming the configs', () => {
    const d = dir();
    try {
      const c = agentConfigFrom(dropInConfig(flags(d), { OTEL_TRACES_EXPORTER: 'none' }));
      assert.deepEqual(
        c.pipelines.map((p) => p.id),
        ['metrics'],
      );
      assert.deepEqual(
        c.warnings.map((w) => w.format()),
        [
          'OTEL_TRACES_EXPORTER: span_marker: tracing.spans are read and counted but not sent (OTEL_TRACES_EXPORTER=none); set OTEL_TRACES_EXPORTER=otlp and OTEL_EXPORTER_OTLP_ENDPOINT to send them [ERR_DROPIN_SPANS_UNSENT]',
        ],
      );
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('without span configs the environment is not read (a bad value there is no error)', () => {
    const d = dir();
    try {
      const c = agentConfigFrom(
        dropInConfig({ ...flags(d), names: ['write_sizes'] }, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }),
      );
      assert.deepEqual(
        c.pipelines.map((p) => p.id),
        ['metrics'],
      );
      assert.throws(
        () => dropInConfig(flags(d), { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }),
        (err: unknown) => err instanceof CollectorErrors && err.errors[0]?.code === 'ERR_DROPIN_OTEL_ENV',
      );
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
