import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { didYouMean } from './describe.ts';
import { loadConfigSources } from './load.ts';
import {
  componentId,
  duration,
  formatDuration,
  hostPort,
  parseComponentId,
  parseDuration,
  parseHostPort,
  parseSize,
  size,
} from './types.ts';
import { validate } from './validate.ts';

/** Validate `v: <yaml>` against `{ v: schema }`; returns the value or the formatted errors. */
function check(schema: z.ZodType, yaml: string): unknown {
  const loaded = loadConfigSources([{ file: 't.yaml', text: `v: ${yaml}\n` }], {});
  const r = validate(z.strictObject({ v: schema }), loaded, []);
  return r.errors.length ? r.errors.map((e) => e.format()) : (r.value as { v: unknown }).v;
}

describe('duration()', () => {
  const ok: [string, number][] = [
    ['5s', 5000],
    ['250ms', 250],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['100us', 0.1],
    ['1.5s', 1500],
    ['0', 0],
    ['"0s"', 0],
  ];
  for (const [yaml, ms] of ok) it(`${yaml} → ${ms} ms`, () => assert.equal(check(duration(), yaml), ms));

  const bad: [string, string][] = [
    ['15', 't.yaml:1:4: v: expected a duration like "15s", got 15 (number) [ERR_CONFIG_TYPE]'],
    ['true', 't.yaml:1:4: v: expected a duration like "15s", got true (boolean) [ERR_CONFIG_TYPE]'],
    [
      '-5s',
      't.yaml:1:4: v: expected a duration like "15s", got "-5s": durations cannot be negative [ERR_CONFIG_VALUE]',
    ],
    [
      '"15"',
      't.yaml:1:4: v: expected a duration like "15s", got "15": a unit is missing (ns, us, ms, s, m, h), e.g. "15s" [ERR_CONFIG_VALUE]',
    ],
    [
      '15 sec',
      't.yaml:1:4: v: expected a duration like "15s", got "15 sec": units are ns, us, ms, s, m, h, e.g. "1m30s" [ERR_CONFIG_VALUE]',
    ],
  ];
  for (const [yaml, err] of bad)
    it(`rejects ${yaml}`, () => assert.deepEqual(check(duration(), yaml), [err]));

  it('bounds', () => {
    assert.deepEqual(check(duration({ minMs: 1000 }), '500ms'), [
      't.yaml:1:4: v: expected a duration of at least 1s, got "500ms" [ERR_CONFIG_VALUE]',
    ]);
    assert.deepEqual(check(duration({ maxMs: 60_000 }), '2m'), [
      't.yaml:1:4: v: expected a duration of at most 1m, got "2m" [ERR_CONFIG_VALUE]',
    ]);
  });

  it('defaults and helpers', () => {
    assert.deepEqual(z.strictObject({ d: duration().default(15_000) }).parse({}), { d: 15_000 });
    assert.deepEqual(z.strictObject({ d: duration().prefault('2s') }).parse({}), { d: 2000 });
    assert.equal(parseDuration('1h2m3s4ms'), 3_723_004);
    assert.equal(formatDuration(90_000), '1m30s');
    assert.equal(formatDuration(250), '250ms');
  });
});

describe('size()', () => {
  const ok: [string, number][] = [
    ['4MiB', 4 * 1024 * 1024],
    ['512KiB', 512 * 1024],
    ['1.5GB', 1.5e9],
    ['10kB', 10_000],
    ['4096', 4096],
    ['"4096"', 4096],
    ['0', 0],
  ];
  for (const [yaml, bytes] of ok) it(`${yaml} → ${bytes}`, () => assert.equal(check(size(), yaml), bytes));

  it('rejects ambiguous units, fractions of a byte, negatives, and non-strings', () => {
    assert.match(String(parseSize('1k')), /^unknown unit "k"/);
    assert.equal(parseSize('0.5B'), 'not a whole number of bytes');
    assert.deepEqual(check(size(), '-1'), [
      't.yaml:1:4: v: expected a size like "4MiB" or a whole number of bytes, got -1 [ERR_CONFIG_VALUE]',
    ]);
    assert.deepEqual(check(size(), '[1]'), [
      't.yaml:1:4: v: expected a size like "4MiB", got a list [ERR_CONFIG_TYPE]',
    ]);
    assert.deepEqual(check(size({ max: 1024 }), '2KiB'), [
      't.yaml:1:4: v: expected at most 1024 bytes, got 2048 [ERR_CONFIG_VALUE]',
    ]);
  });
});

describe('hostPort()', () => {
  const ok: [string, { host: string; port: number }][] = [
    ['0.0.0.0:9435', { host: '0.0.0.0', port: 9435 }],
    ['"[::1]:9435"', { host: '::1', port: 9435 }],
    ['":9435"', { host: '', port: 9435 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['collector.example.com:4317', { host: 'collector.example.com', port: 4317 }],
  ];
  for (const [yaml, want] of ok) it(`${yaml}`, () => assert.deepEqual(check(hostPort(), yaml), want));

  const bad: [string, string][] = [
    ['localhost', 'the port is missing'],
    ['::1:9435', 'write IPv6 addresses in brackets, like "[::1]:9435"'],
    ['[::zz]:1', '"::zz" is not an IPv6 address'],
    ['host:65536', 'the port must be a number from 0 to 65535, got "65536"'],
    ['bad_host!:1', '"bad_host!" is not a valid host name or IP address'],
  ];
  for (const [text, why] of bad) it(`rejects ${text}`, () => assert.equal(parseHostPort(text), why));

  it('a number is a type error', () => {
    assert.deepEqual(check(hostPort(), '9435'), [
      't.yaml:1:4: v: expected an address like "0.0.0.0:9435", got 9435 (number) [ERR_CONFIG_TYPE]',
    ]);
  });
});

describe('componentId', () => {
  it('accepts type and type/name', () => {
    for (const id of ['ebpf', 'ebpf/timers', 'k8s_attributes/a.b-c', 'otlp/x/y', 'A1'])
      assert.equal(check(componentId, JSON.stringify(id)), id);
    assert.deepEqual(parseComponentId('ebpf/timers'), { type: 'ebpf', name: 'timers' });
    assert.deepEqual(parseComponentId('ebpf'), { type: 'ebpf', name: undefined });
  });
  const bad: [string, string][] = [
    [
      '1ebpf',
      'the type "1ebpf" must start with a letter and hold only letters, digits and _ (at most 63 characters)',
    ],
    ['/x', 'the type before "/" is empty'],
    ['ebpf/', 'the name after "/" is empty'],
    ['ebpf/a b', 'the name "a b" must not contain spaces or control characters'],
    [
      'e-bpf',
      'the type "e-bpf" must start with a letter and hold only letters, digits and _ (at most 63 characters)',
    ],
    [
      `a${'b'.repeat(63)}`,
      `the type "a${'b'.repeat(63)}" must start with a letter and hold only letters, digits and _ (at most 63 characters)`,
    ],
  ];
  for (const [id, why] of bad) {
    it(`rejects ${JSON.stringify(id).slice(0, 20)}`, () => {
      assert.equal(parseComponentId(id), why);
      const got = check(componentId, JSON.stringify(id)) as string[];
      assert.equal(got.length, 1);
      assert.match(got[0] ?? '', /^t\.yaml:1:4: v: invalid component id .*\[ERR_CONFIG_COMPONENT_ID\]$/);
    });
  }
});

describe('didYouMean', () => {
  it('suggests only close matches', () => {
    assert.equal(didYouMean('exlude', ['include', 'exclude']), 'exclude');
    assert.equal(didYouMean('recievers', ['receivers', 'exporters']), 'receivers');
    assert.equal(didYouMean('Mode', ['mode']), 'mode');
    assert.equal(didYouMean('xyz', ['include', 'exclude']), undefined);
    assert.equal(didYouMean('ab', ['cd']), undefined);
  });
});
