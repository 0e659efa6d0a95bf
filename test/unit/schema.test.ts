/** The JSON Schema of the config (`schema` command) compiles, accepts what we ship and rejects bad input. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { configJsonSchema } from '../../src/schema.ts';
import { repoRoot, runCli } from '../helpers/agent.ts';

const ajv = new Ajv2020({ allErrors: true, strict: false });
const validate = ajv.compile(configJsonSchema());
const errorsOf = (): string => ajv.errorsText(validate.errors);

type Config = Record<string, Record<string, Record<string, unknown>> | undefined>;

const good = `
receivers:
  ebpf/timers:
    program: timers
    poll_interval: 15s
exporters:
  prometheus:
service:
  pipelines:
    metrics:
      receivers: [ebpf/timers]
      exporters: [prometheus]
`;

describe('configJsonSchema()', () => {
  it('compiles as draft 2020-12 (the schema command prints it)', () => {
    const r = runCli(['schema']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), configJsonSchema());
    assert.equal(typeof validate, 'function');
  });

  for (const f of readdirSync(join(repoRoot, 'pipelines')).filter((n) => n.endsWith('.yaml'))) {
    it(`accepts pipelines/${f}`, () => {
      const data: unknown = parse(readFileSync(join(repoRoot, 'pipelines', f), 'utf8'));
      assert.ok(validate(data), errorsOf());
    });
  }

  it('accepts inline metrics, otlp and every bucket type', () => {
    const data = parse(good) as Record<string, Record<string, Record<string, unknown>>>;
    (data['receivers'] as Record<string, Record<string, unknown>>)['ebpf/timers'] = {
      program: 'timers',
      metrics: {
        histograms: [
          {
            name: 'h_seconds',
            help: 'Latency',
            bucket_type: 'exp2',
            bucket_min: 0,
            bucket_max: 26,
            bucket_multiplier: 0.000001,
            labels: [{ name: 'bucket', size: 8, decoders: [{ name: 'uint' }] }],
          },
        ],
      },
    };
    (data['exporters'] as Record<string, unknown>)['otlp/x'] = {
      endpoint: 'https://collector:4317',
      retry_on_failure: { max_interval: '5s' },
    };
    assert.ok(validate(data), errorsOf());
  });

  const timers = (d: Config): Record<string, unknown> => d.receivers?.['ebpf/timers'] ?? {};
  const bad: [string, (d: Config) => void, RegExp][] = [
    ['an unknown receiver key', (d) => (timers(d)['poll_intervall'] = '15s'), /additional/],
    ['a number for a duration', (d) => (timers(d)['poll_interval'] = 15), /must be string/],
    [
      'a string for max_requests',
      (d) => ((d.exporters ?? {})['prometheus'] = { max_requests: 'many' }),
      /must be/,
    ],
    ['an unknown component type', (d) => ((d.exporters ?? {})['promethues'] = {}), /additional/],
    ['an unknown top-level key', (d) => (d['recievers'] = {}), /additional/],
    [
      'a bad bucket_type',
      (d) =>
        (timers(d)['metrics'] = {
          histograms: [{ name: 'h', help: 'h', bucket_type: 'exp3', labels: [] }],
        }),
      /allowed values/,
    ],
    ['no service', (d) => delete d['service'], /required/],
  ];
  for (const [what, mutate, message] of bad) {
    it(`rejects ${what}`, () => {
      const data = parse(good) as Config;
      mutate(data);
      assert.equal(validate(data), false);
      assert.match(errorsOf(), message);
    });
  }
});
