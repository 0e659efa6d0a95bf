import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { loadConfigFiles, loadConfigSources } from './load.ts';
import { duration, hostPort, size } from './types.ts';
import { validate, validateComponentConfig } from './validate.ts';

const td = (name: string): string => relative(process.cwd(), join(import.meta.dirname, 'testdata', name));

/** A receiver-like component schema, as a component folder would declare it. */
const receiverSchema = z.strictObject({
  poll_interval: duration().default(15_000),
  mode: z.enum(['normal', 'strict']).default('normal'),
  include: z.array(z.string()).optional(),
  exclude: z.array(z.string()).optional(),
  buffer: size().optional(),
  listen: hostPort().optional(),
});

describe('validate(): component config', () => {
  it('reports every problem with the position of the offending node, sorted', async () => {
    const file = td('bad-component.yaml');
    const loaded = await loadConfigFiles([file], {});
    const r = validateComponentConfig(receiverSchema, loaded, ['receivers', 'ebpf/timers']);
    assert.equal(r.value, undefined);
    assert.deepEqual(
      r.errors.map((e) => e.format()),
      [
        ':3:20: receivers.ebpf/timers.poll_interval: expected a duration like "15s", got 15 (number) [ERR_CONFIG_TYPE]',
        ':4:11: receivers.ebpf/timers.mode: expected one of normal, strict, got "fast" [ERR_CONFIG_ENUM]',
        ':5:5: receivers.ebpf/timers.exlude: unknown key; expected one of poll_interval, mode, include, exclude, buffer, listen (did you mean "exclude"?) [ERR_CONFIG_UNKNOWN_KEY]',
        ':6:13: receivers.ebpf/timers.buffer: expected a size like "4MiB", got "4 megs": unknown unit "megs"; units are B, KiB, MiB, GiB, TiB (1024) or kB, MB, GB, TB (1000) [ERR_CONFIG_VALUE]',
        ':7:13: receivers.ebpf/timers.listen: expected an address like "0.0.0.0:9435", got "::1:9435": write IPv6 addresses in brackets, like "[::1]:9435" [ERR_CONFIG_VALUE]',
      ].map((l) => file + l),
    );
    // The fields are CollectorError fields too, not only text.
    assert.deepEqual(r.errors[0]?.position, { file, line: 3, col: 20 });
    assert.equal(r.errors[0]?.path, 'receivers.ebpf/timers.poll_interval');
    assert.equal(r.errors[0]?.code, 'ERR_CONFIG_TYPE');
  });

  it('an empty component config gets the schema defaults', () => {
    const loaded = loadConfigSources([{ file: 'e.yaml', text: 'receivers:\n  ebpf:\n' }], {});
    assert.deepEqual(validateComponentConfig(receiverSchema, loaded, ['receivers', 'ebpf']), {
      value: { poll_interval: 15_000, mode: 'normal' },
      errors: [],
    });
    // Plain validate() sees the null as it is.
    assert.deepEqual(
      validate(receiverSchema, loaded, ['receivers', 'ebpf']).errors.map((e) => e.format()),
      ['e.yaml:2:3: receivers.ebpf: expected a map, got null (empty value) [ERR_CONFIG_TYPE]'],
    );
  });
});

describe('validate(): issue kinds', () => {
  const schema = z.strictObject({
    name: z.string(),
    count: z.number().int().min(1),
    tags: z.array(z.string()).max(2),
    either: z.union([z.string(), z.array(z.string())]).optional(),
    list: z.union([z.string(), z.array(z.string())]).optional(),
    nested: z.strictObject({ need: z.boolean(), level: z.literal('x').optional() }),
    custom: z.string().min(3, 'say more than that').optional(),
  });
  const text = [
    'count: 0', //                  1
    'tags: [a, b, c]', //           2
    'either: {a: 1}', //            3
    'nested:', //                   4
    '  level: y', //                5
    'custom: hi', //                6
    'list: [a, 3]', //              7
    '',
  ].join('\n');
  const loaded = loadConfigSources([{ file: 'k.yaml', text }], {});

  it('missing keys point at the map that lacks them; the rest at the value', () => {
    assert.deepEqual(
      validate(schema, loaded, []).errors.map((e) => e.format()),
      [
        'k.yaml:1:1: name: missing required key [ERR_CONFIG_MISSING]',
        'k.yaml:1:8: count: expected a value >= 1, got 0 [ERR_CONFIG_VALUE]',
        'k.yaml:2:7: tags: expected at most 2 items, got 3 [ERR_CONFIG_VALUE]',
        'k.yaml:3:9: either: expected a string or a list, got a map [ERR_CONFIG_TYPE]',
        'k.yaml:5:3: nested.need: missing required key [ERR_CONFIG_MISSING]',
        'k.yaml:5:10: nested.level: expected "x", got "y" [ERR_CONFIG_ENUM]',
        'k.yaml:6:9: custom: say more than that [ERR_CONFIG_VALUE]',
        // The value is a list, so the list branch's problem is the one reported.
        'k.yaml:7:11: list[1]: expected a string, got 3 (number) [ERR_CONFIG_TYPE]',
      ],
    );
  });

  it('displayPrefix replaces the shown base path', () => {
    const l = loadConfigSources([{ file: 'd.yaml', text: 'a:\n  b:\n    c: 1\n' }], {});
    const r = validate(z.strictObject({ c: z.string() }), l, ['a', 'b'], 'receivers.x');
    assert.deepEqual(
      r.errors.map((e) => e.format()),
      ['d.yaml:3:8: receivers.x.c: expected a string, got 1 (number) [ERR_CONFIG_TYPE]'],
    );
  });

  it('a missing sub-tree is reported at the nearest existing map', () => {
    const l = loadConfigSources([{ file: 'm.yaml', text: 'a: {}\n' }], {});
    const r = validate(z.strictObject({ c: z.string() }), l, ['a', 'b']);
    assert.deepEqual(
      r.errors.map((e) => e.format()),
      ['m.yaml:1:4: a.b: missing required key [ERR_CONFIG_MISSING]'],
    );
  });
});
