import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { EMPTY, lastValueFrom, of, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { loadConfigFiles, loadConfigSources } from '../../config/load.ts';
import { validateComponentConfig, validateValue } from '../../config/validate.ts';
import type { PointCounts } from '../../labels/points.ts';
import type { LabelSlot, MetricBatch, RawFamily } from '../../pipeline/data.ts';
import { configSchema, type AttributesProcessorConfig } from './config.ts';
import { applyActions, attributes, compileActions, hashValue } from './operator.ts';

const noFile = loadConfigSources([{ file: 't.yaml', text: '{}' }]);

function parse(actions: unknown[]): AttributesProcessorConfig {
  const r = validateValue(configSchema, { actions }, noFile, ['processors', 'attributes']);
  if (!r.value) throw new Error(r.errors.map((e) => e.format()).join('\n'));
  return r.value;
}

// sha256("alice"), sha256("")
const ALICE = '2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90';
const EMPTY_SHA = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const cases: [string, unknown[], Record<string, string>, Record<string, string>][] = [
  ['insert adds an absent key', [{ key: 'c', value: 'x', action: 'insert' }], { a: '1' }, { a: '1', c: 'x' }],
  ['insert leaves a present key', [{ key: 'a', value: 'x', action: 'insert' }], { a: '1' }, { a: '1' }],
  ['update changes a present key', [{ key: 'a', value: 'x', action: 'update' }], { a: '1' }, { a: 'x' }],
  ['update ignores an absent key', [{ key: 'c', value: 'x', action: 'update' }], { a: '1' }, { a: '1' }],
  ['upsert adds', [{ key: 'c', value: 'x', action: 'upsert' }], { a: '1' }, { a: '1', c: 'x' }],
  ['upsert changes', [{ key: 'a', value: 'x', action: 'upsert' }], { a: '1' }, { a: 'x' }],
  ['a number value is its text', [{ key: 'p', value: 8080, action: 'insert' }], {}, { p: '8080' }],
  ['a boolean value is its text', [{ key: 'p', value: true, action: 'insert' }], {}, { p: 'true' }],
  [
    'from_attribute copies',
    [{ key: 'b', from_attribute: 'a', action: 'upsert' }],
    { a: '1' },
    { a: '1', b: '1' },
  ],
  [
    'from_attribute absent: nothing',
    [{ key: 'b', from_attribute: 'z', action: 'upsert' }],
    { a: '1' },
    { a: '1' },
  ],
  ['delete by key', [{ key: 'a', action: 'delete' }], { a: '1', b: '2' }, { b: '2' }],
  ['delete of an absent key', [{ key: 'z', action: 'delete' }], { a: '1' }, { a: '1' }],
  [
    'delete by pattern (anchored)',
    [{ pattern: 'user_.*', action: 'delete' }],
    { user_id: '1', x_user_id: '2' },
    { x_user_id: '2' },
  ],
  [
    'delete by key and pattern',
    [{ key: 'a', pattern: 'b.', action: 'delete' }],
    { a: '1', b1: '2', b: '3' },
    { b: '3' },
  ],
  ['hash by key', [{ key: 'user', action: 'hash' }], { user: 'alice' }, { user: ALICE }],
  ['hash an empty value', [{ key: 'user', action: 'hash' }], { user: '' }, { user: EMPTY_SHA }],
  [
    'hash by pattern',
    [{ pattern: 'u.*', action: 'hash' }],
    { user: 'alice', x: 'alice' },
    { user: ALICE, x: 'alice' },
  ],
  [
    'actions run in order',
    [
      { key: 'b', from_attribute: 'a', action: 'insert' },
      { key: 'a', action: 'delete' },
      { key: 'b', action: 'hash' },
    ],
    { a: 'alice' },
    { b: ALICE },
  ],
  ['__name__ is never touched by a pattern', [{ pattern: '.*', action: 'delete' }], { a: '1' }, {}],
];

describe('attributes: actions', () => {
  for (const [name, actions, input, output] of cases) {
    it(name, () => {
      const labels = new Map(Object.entries({ __name__: 'm', ...input }));
      applyActions(labels, compileActions(parse(actions).actions));
      assert.deepEqual(Object.fromEntries(labels), { __name__: 'm', ...output });
    });
  }
  it('hashValue is sha256 hex', () => assert.equal(hashValue('alice'), ALICE));
});

describe('attributes: config', () => {
  async function checkFile(name: string) {
    const file = relative(process.cwd(), join(import.meta.dirname, 'testdata', name));
    const loaded = await loadConfigFiles([file], {});
    const r = validateComponentConfig(configSchema, loaded, ['processors', 'attributes']);
    return { file, value: r.value, lines: r.errors.map((e) => e.format()) };
  }

  it('testdata/good.yaml is valid', async () => {
    const { value, lines } = await checkFile('good.yaml');
    assert.deepEqual(lines, []);
    assert.equal(value?.actions.length, 5);
  });

  it('an empty actions list is an error', () => {
    const r = validateValue(configSchema, { actions: [] }, noFile, ['processors', 'attributes']);
    assert.deepEqual(
      r.errors.map((e) => [e.code, e.message]),
      [['ERR_CONFIG_VALUE', 'list at least one action']],
    );
  });

  it('testdata/bad.yaml: every problem, positioned, with its code', async () => {
    const { file, lines } = await checkFile('bad.yaml');
    const at = 'processors.attributes.actions';
    assert.deepEqual(lines, [
      `${file}:4:9: ${at}[0]: the insert action requires 'key' [ERR_CONFIG_MISSING]`,
      `${file}:5:9: ${at}[1]: the upsert action requires 'value' or 'from_attribute' [ERR_CONFIG_MISSING]`,
      `${file}:6:61: ${at}[2].from_attribute: give either 'value' or 'from_attribute', not both [ERR_CONFIG_VALUE]`,
      `${file}:7:9: ${at}[3]: the delete action requires 'key' or 'pattern' [ERR_CONFIG_MISSING]`,
      `${file}:8:40: ${at}[4].value: 'value' is not used by the hash action [ERR_CONFIG_VALUE]`,
      `${file}:9:16: ${at}[5].key: __name__ is the metric name, not a label; use the relabel processor [ERR_CONFIG_VALUE]`,
      `${file}:10:30: ${at}[6].pattern: not a valid RE2 regexp: RE2 has no lookahead or lookbehind ((?!…) [ERR_CONFIG_REGEXP]`,
      `${file}:11:27: ${at}[7].action: expected one of insert, update, upsert, delete, hash, got "rename" [ERR_CONFIG_ENUM]`,
    ]);
  });
});

const slot = (name: string, value: string): LabelSlot => ({ name, value, pending: [] });
const family = (name: string, points: { labels: LabelSlot[]; value: number }[]): RawFamily => ({
  name,
  help: '',
  kind: 'counter',
  startTimeMs: 0,
  points,
});
const batch = (...families: RawFamily[]): MetricBatch => ({
  source: 'ebpf/t',
  config: 't',
  timeMs: 0,
  families,
});

function op(actions: unknown[], counts: PointCounts[] = []) {
  return attributes(compileActions(parse(actions).actions), (_b, c) => counts.push(c));
}

describe('attributes: operator', () => {
  it('empty: completes without emitting', async () => {
    assert.deepEqual(await lastValueFrom(EMPTY.pipe(op([{ key: 'a', action: 'delete' }]), toArray())), []);
  });

  it('rewrites final points, skips pending ones, keeps untouched points by identity', async () => {
    const pending: LabelSlot = { name: 'fn', value: new Uint8Array(8), pending: [{ name: 'ksym' }] };
    const untouched = { labels: [slot('k', 'v')], value: 1 };
    const counts: PointCounts[] = [];
    const out = await lastValueFrom(
      of(
        batch(
          family('a', [untouched, { labels: [slot('user', 'alice'), slot('k', 'v')], value: 2 }]),
          family('b', [{ labels: [pending], value: 3 }]),
        ),
      ).pipe(op([{ key: 'user', action: 'hash' }], counts)),
    );
    assert.equal(out.families[0]?.points[0], untouched);
    assert.deepEqual(out.families[0]?.points[1]?.labels, [slot('user', ALICE), slot('k', 'v')]);
    assert.equal(out.families[1]?.points[0]?.labels[0], pending);
    assert.deepEqual(counts, [{ skipped: 1, errors: 0 }]);
  });

  it('many, upstream error, never-completing (marbles)', () => {
    const scheduler = new TestScheduler((a, e) => assert.deepEqual(a, e));
    scheduler.run(({ cold, expectObservable }) => {
      const b = batch(family('a', [{ labels: [slot('k', 'x')], value: 1 }]));
      const expected = batch(family('a', [{ labels: [slot('k', 'x'), slot('env', 'prod')], value: 1 }]));
      const actions = [{ key: 'env', value: 'prod', action: 'insert' }];
      expectObservable(cold('a-b-|', { a: b, b }).pipe(op(actions))).toBe('a-b-|', {
        a: expected,
        b: expected,
      });
      expectObservable(cold('a-#', { a: b }).pipe(op(actions))).toBe('a-#', { a: expected });
      expectObservable(cold('a--', { a: b }).pipe(op(actions))).toBe('a--', { a: expected });
    });
  });
});
