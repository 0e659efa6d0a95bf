import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfigFiles } from './load.ts';
import { parseServiceConfig } from './service.ts';

const td = (name: string): string => relative(process.cwd(), join(import.meta.dirname, 'testdata', name));

async function parse(file: string) {
  return parseServiceConfig(await loadConfigFiles([td(file)], {}));
}

describe('service.telemetry', () => {
  it('readers (both prometheus spellings), logs level and encoding', async () => {
    const r = await parse('good-telemetry.yaml');
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.config?.service.telemetry, {
      logs: { level: 'warn', encoding: 'console' },
      metrics: {
        level: 'basic',
        endpoints: [
          { host: '0.0.0.0', port: 8888 },
          { host: 'localhost', port: 9999 },
        ],
      },
    });
  });

  it('the older address form is one pull reader', async () => {
    const r = await parse('good-telemetry-address.yaml');
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.config?.service.telemetry.metrics, {
      level: 'detailed',
      endpoints: [{ host: '127.0.0.1', port: 8888 }],
    });
  });

  it('absent: level normal, no endpoint of its own, json logs at info', async () => {
    const r = await parse('good-minimal.yaml');
    assert.deepEqual(r.config?.service.telemetry, {
      logs: { level: 'info', encoding: 'json' },
      metrics: { level: 'normal', endpoints: [] },
    });
  });

  it('bad values: every problem at once, positioned, with its code', async () => {
    const r = await parse('bad-telemetry.yaml');
    assert.equal(r.config, undefined);
    assert.deepEqual(
      r.errors.map((e) => e.format().replace(/^[^:]*/, '')),
      [
        ':13:14: service.telemetry.logs.level: expected one of debug, info, warn, error, got "verbose" [ERR_CONFIG_ENUM]',
        ':14:17: service.telemetry.logs.encoding: expected one of json, console, got "text" [ERR_CONFIG_ENUM]',
        ':16:14: service.telemetry.metrics.level: expected one of none, basic, normal, detailed, got "full" [ERR_CONFIG_ENUM]',
        ':19:13: service.telemetry.metrics.readers[0].periodic: periodic readers (pushing the self-metrics over OTLP) are not supported; use a pull reader, or an otlp exporter in a pipeline [ERR_CONFIG_VALUE]',
        ':25:23: service.telemetry.metrics.readers[1].pull.exporter.prometheus.port: expected a value <= 65535, got 88888 [ERR_CONFIG_VALUE]',
        ':27:23: service.telemetry.metrics.readers[2].pull.exporter: a pull reader needs exactly one exporter: prometheus (or prometheus/development) [ERR_CONFIG_VALUE]',
        ':28:11: service.telemetry.metrics.readers[3].push: unknown key; expected one of pull, periodic (did you mean "pull"?) [ERR_CONFIG_UNKNOWN_KEY]',
        ':28:11: service.telemetry.metrics.readers[3]: a reader needs pull: { exporter: { prometheus: { host, port } } } [ERR_CONFIG_VALUE]',
      ],
    );
  });

  it('address and readers together', async () => {
    const r = await parse('bad-telemetry-address.yaml');
    assert.deepEqual(
      r.errors.map((e) => e.format().replace(/^[^:]*/, '')),
      [
        ':13:16: service.telemetry.metrics.address: give address or readers, not both (address is the older form of one pull reader) [ERR_CONFIG_VALUE]',
      ],
    );
  });
});
