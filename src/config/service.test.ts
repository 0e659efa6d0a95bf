import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { CONFIG_ERROR_CODES } from './codes.ts';
import { loadConfigFiles } from './load.ts';
import { parseServiceConfig } from './service.ts';

const td = (name: string): string => relative(process.cwd(), join(import.meta.dirname, 'testdata', name));

async function parse(files: string[], env: NodeJS.ProcessEnv = {}) {
  return parseServiceConfig(await loadConfigFiles(files.map(td), env));
}

describe('parseServiceConfig: bad configs (exact file:line:col and code)', () => {
  const cases: { file: string; errors: string[]; warnings?: string[] }[] = [
    {
      file: 'bad-unknown-key.yaml',
      errors: [
        ':1:1: recievers: unknown key; expected one of receivers, processors, exporters, extensions, service (did you mean "receivers"?) [ERR_CONFIG_UNKNOWN_KEY]',
        ':8:7: service.pipelines.metrics.exporters: missing required key; a pipeline needs at least one exporter [ERR_CONFIG_MISSING]',
        ':8:19: service.pipelines.metrics.receivers[0]: references receiver "ebpf" which is not configured; no receivers are configured [ERR_CONFIG_REFERENCE]',
        ':9:7: service.pipelines.metrics.exporter: unknown key; expected one of receivers, processors, exporters (did you mean "exporters"?) [ERR_CONFIG_UNKNOWN_KEY]',
      ],
      warnings: [
        ':4:3: exporters.prometheus: exporter "prometheus" is defined but not used in any pipeline [ERR_CONFIG_UNUSED]',
      ],
    },
    {
      file: 'bad-enum.yaml',
      errors: [
        ':12:14: service.telemetry.logs.level: expected one of debug, info, warn, error, got "verbose" [ERR_CONFIG_ENUM]',
      ],
    },
    {
      file: 'bad-missing.yaml',
      errors: [
        ':8:7: service.pipelines.metrics.exporters: missing required key; a pipeline needs at least one exporter [ERR_CONFIG_MISSING]',
        ':10:18: service.pipelines.metrics/empty.receivers: a pipeline needs at least one receiver [ERR_CONFIG_VALUE]',
      ],
    },
    {
      file: 'bad-no-service.yaml',
      errors: [':1:1: service: missing required key [ERR_CONFIG_MISSING]'],
    },
    {
      file: 'bad-component-id.yaml',
      errors: [
        ':2:3: receivers.1ebpf: invalid component id "1ebpf": the type "1ebpf" must start with a letter and hold only letters, digits and _ (at most 63 characters) [ERR_CONFIG_COMPONENT_ID]',
        ':3:3: receivers.ebpf/: invalid component id "ebpf/": the name after "/" is empty [ERR_CONFIG_COMPONENT_ID]',
        ':4:3: receivers.ebpf/two words: invalid component id "ebpf/two words": the name "two words" must not contain spaces or control characters [ERR_CONFIG_COMPONENT_ID]',
        ':10:19: service.pipelines.metrics.receivers[0]: references receiver "ebpf" which is not configured; no receivers are configured [ERR_CONFIG_REFERENCE]',
        ':13:19: service.pipelines.traces.receivers[0]: references receiver "ebpf" which is not configured; no receivers are configured [ERR_CONFIG_REFERENCE]',
      ],
    },
    {
      file: 'bad-reference.yaml',
      errors: [
        ':6:16: service.extensions[0]: references extension "health" which is not configured; no extensions are configured [ERR_CONFIG_REFERENCE]',
        ':9:19: service.pipelines.metrics.receivers[0]: references receiver "ebpf/timer" which is not configured; configured receivers: ebpf/timers (did you mean "ebpf/timers"?) [ERR_CONFIG_REFERENCE]',
        ':9:31: service.pipelines.metrics.receivers[1]: references receiver "prometheus" which is not configured; configured receivers: ebpf/timers; "prometheus" is defined under exporters [ERR_CONFIG_REFERENCE]',
        ':10:20: service.pipelines.metrics.processors[0]: references processor "batch" which is not configured; no processors are configured [ERR_CONFIG_REFERENCE]',
        ':11:31: service.pipelines.metrics.exporters[1]: exporter "prometheus" is listed twice in pipeline "metrics" [ERR_CONFIG_VALUE]',
      ],
      warnings: [
        ':2:3: receivers.ebpf/timers: receiver "ebpf/timers" is defined but not used in any pipeline [ERR_CONFIG_UNUSED]',
      ],
    },
  ];
  for (const c of cases) {
    it(c.file, async () => {
      const r = await parse([c.file]);
      const file = td(c.file);
      assert.equal(r.config, undefined);
      assert.deepEqual(
        r.errors.map((e) => e.format()),
        c.errors.map((l) => file + l),
      );
      assert.deepEqual(
        r.warnings.map((e) => e.format()),
        (c.warnings ?? []).map((l) => file + l),
      );
    });
  }
});

describe('parseServiceConfig: good configs', () => {
  it('minimal: empty components are {}, defaults applied', async () => {
    const r = await parse(['good-minimal.yaml']);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(r.config, {
      receivers: { ebpf: {} },
      processors: {},
      exporters: { prometheus: {} },
      extensions: {},
      service: {
        extensions: [],
        pipelines: { metrics: { receivers: ['ebpf'], processors: [], exporters: ['prometheus'] } },
        telemetry: {
          logs: { level: 'info', encoding: 'json' },
          metrics: { level: 'normal', endpoints: [] },
        },
      },
    });
  });

  it('full: every section, env defaults and values', async () => {
    const r = await parse(['good-full.yaml'], { PROM_PORT: '9500' });
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(r.config?.exporters, {
      prometheus: { endpoint: '0.0.0.0:9500' },
      'otlp/backend': { endpoint: 'collector.example:4317' },
    });
    assert.deepEqual(r.config?.receivers['ebpf/bio'], { poll_interval: '10s' });
    assert.deepEqual(Object.keys(r.config?.service.pipelines ?? {}), ['metrics', 'metrics/remote']);
    assert.equal(r.config?.service.telemetry.logs.level, 'debug');
    assert.deepEqual(r.config?.service.extensions, ['health_check']);
  });

  it('unused components are warnings, not errors', async () => {
    const r = await parse(['good-unused.yaml']);
    const file = td('good-unused.yaml');
    assert.deepEqual(r.errors, []);
    assert.ok(r.config);
    assert.deepEqual(
      r.warnings.map((e) => e.format()),
      [
        ':3:3: receivers.ebpf/spare: receiver "ebpf/spare" is defined but not used in any pipeline [ERR_CONFIG_UNUSED]',
        ':5:3: processors.batch: processor "batch" is defined but not used in any pipeline [ERR_CONFIG_UNUSED]',
        ':9:3: extensions.health_check: extension "health_check" is defined but not enabled in service.extensions [ERR_CONFIG_UNUSED]',
      ].map((l) => file + l),
    );
  });

  it('merged files: the later file adds a receiver used by the replaced list', async () => {
    const r = await parse(['merge-base.yaml', 'merge-override.yaml']);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.config?.receivers, {
      'ebpf/timers': { poll_interval: '5s', mode: 'normal' },
      'ebpf/bio': {},
    });
    assert.deepEqual(r.config?.service.pipelines.metrics?.receivers, ['ebpf/timers', 'ebpf/bio']);
  });
});

describe('docs/errors.md', () => {
  it('lists every configuration error code', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'errors.md'), 'utf8');
    for (const code of Object.values(CONFIG_ERROR_CODES)) {
      assert.match(doc, new RegExp(`^- \`${code}\` — .+ Fix: .+$`, 'm'), `${code} is not documented`);
    }
  });
});
