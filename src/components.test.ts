import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { factories, otlpExporterFactory, otlpHttpExporterFactory } from './components.ts';
import { otlpExporterFactory as realOtlp } from './exporters/otlp/factory.ts';
import { otlpHttpExporterFactory as realOtlpHttp } from './exporters/otlphttp/factory.ts';
import { OtlpExporter } from './exporters/otlp/otlp.ts';
import { createLogger } from './logger.ts';

test('the lazy otlp factory stands for the real one: type, kind, pipeline types, schema', () => {
  assert.equal(factories.exporters.get('otlp'), otlpExporterFactory);
  assert.equal(otlpExporterFactory.type, realOtlp.type);
  assert.equal(otlpExporterFactory.kind, realOtlp.kind);
  assert.deepEqual(otlpExporterFactory.pipelineTypes, realOtlp.pipelineTypes);
  assert.equal(otlpExporterFactory.configSchema, realOtlp.configSchema);
});

test('the lazy otlphttp factory stands for the real one and creates the real exporter', async () => {
  assert.equal(factories.exporters.get('otlphttp'), otlpHttpExporterFactory);
  assert.equal(otlpHttpExporterFactory.type, realOtlpHttp.type);
  assert.equal(otlpHttpExporterFactory.kind, realOtlpHttp.kind);
  assert.deepEqual(otlpHttpExporterFactory.pipelineTypes, realOtlpHttp.pipelineTypes);
  assert.equal(otlpHttpExporterFactory.configSchema, realOtlpHttp.configSchema);
  const config = otlpHttpExporterFactory.configSchema.parse({ endpoint: 'http://127.0.0.1:4318' });
  const e = await otlpHttpExporterFactory.create(
    { id: 'otlphttp', logger: createLogger('error'), configDir: '.' },
    config,
  );
  try {
    assert.ok(e instanceof OtlpExporter);
  } finally {
    await e.shutdown();
  }
});

test('the lazy otlp factory creates the real exporter', async () => {
  const config = otlpExporterFactory.configSchema.parse({
    endpoint: '127.0.0.1:4317',
    tls: { insecure: true },
  });
  const e = await otlpExporterFactory.create(
    { id: 'otlp', logger: createLogger('error'), configDir: '.' },
    config,
  );
  try {
    assert.ok(e instanceof OtlpExporter);
  } finally {
    await e.shutdown();
  }
});

test('loading the components does not load gRPC or the OTLP exporter', () => {
  const url = new URL('./components.ts', import.meta.url).href;
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { createRequire } from 'node:module';
       await import(${JSON.stringify(url)});
       const cache = Object.keys(createRequire(import.meta.url).cache);
       const hit = cache.filter((k) => /grpc-js|exporter-metrics-otlp|otlp-transformer/.test(k));
       process.stdout.write(JSON.stringify(hit));`,
    ],
    { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), []);
});
