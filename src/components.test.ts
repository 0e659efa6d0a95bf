import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { factories, lazyProcessors, otlpExporterFactory, otlpHttpExporterFactory } from './components.ts';
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

/**
 * Runs `before`, imports components.ts in a fresh Node, then `after`, which writes a JSON
 * list of what it found to stdout; returns that list.
 */
function importComponents(before: string, after: string, cwd?: string): unknown {
  const url = new URL('./components.ts', import.meta.url).href;
  const r = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `${before}\nawait import(${JSON.stringify(url)});\n${after}`],
    { cwd, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('loading the components does not load gRPC or the OTLP exporter', () => {
  const hit = importComponents(
    `import { createRequire } from 'node:module';`,
    `const cache = Object.keys(createRequire(import.meta.url).cache);
     const hit = cache.filter((k) => /grpc-js|exporter-metrics-otlp|otlp-transformer/.test(k));
     process.stdout.write(JSON.stringify(hit));`,
    fileURLToPath(new URL('..', import.meta.url)),
  );
  assert.deepEqual(hit, []);
});

test('each lazy processor stands for the real one: type, kind, pipeline types, schema, and creates it', async () => {
  const real = await Promise.all([
    import('./processors/container/factory.ts').then((m) => m.containerProcessorFactory),
    import('./processors/relabel/factory.ts').then((m) => m.relabelProcessorFactory),
    import('./processors/filter/factory.ts').then((m) => m.filterProcessorFactory),
    import('./processors/attributes/factory.ts').then((m) => m.attributesProcessorFactory),
    import('./processors/k8s_attributes/factory.ts').then((m) => m.k8sAttributesProcessorFactory),
    import('./processors/resource/factory.ts').then((m) => m.resourceProcessorFactory),
  ]);
  assert.deepEqual(
    lazyProcessors.map((f) => f.type),
    real.map((f) => f.type),
  );
  const settings = { id: 'p', logger: createLogger('error'), configDir: '.' };
  for (const [i, lazy] of lazyProcessors.entries()) {
    const r = real[i] as (typeof real)[number];
    assert.equal(factories.processors.get(lazy.type), lazy);
    assert.equal(lazy.kind, r.kind, lazy.type);
    assert.deepEqual(lazy.pipelineTypes, r.pipelineTypes, lazy.type);
    assert.equal(lazy.configSchema, r.configSchema, lazy.type);
    const configs: Record<string, object> = {
      k8s_attributes: { node_name: 'n1' },
      attributes: { actions: [{ key: 'a', value: 'x', action: 'insert' }] },
      resource: { attributes: [{ key: 'a', value: 'x', action: 'insert' }] },
    };
    const config = configs[lazy.type] ?? {};
    const made = await lazy.create(settings, lazy.configSchema.parse(config));
    const direct = await r.create(settings, r.configSchema.parse(config) as never);
    assert.equal(made.constructor, direct.constructor, lazy.type);
  }
});

test('loading the components loads no processor the default pipeline does not use', () => {
  const hit = importComponents(
    `import { registerHooks } from 'node:module';
     const seen = [];
     registerHooks({ resolve(s, c, next) { const r = next(s, c); seen.push(r.url); return r; } });`,
    `const hit = seen.filter((u) => /processors\\/[a-z0-9_]+\\/(?!config\\.ts)/.test(u) && !/processors\\/(ksym|cgroup)\\//.test(u));
     process.stdout.write(JSON.stringify(hit));`,
  );
  assert.deepEqual(hit, []);
});
