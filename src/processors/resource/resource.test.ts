import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { EMPTY, lastValueFrom, of, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { loadConfigFiles, loadConfigSources } from '../../config/load.ts';
import { validateComponentConfig, validateValue } from '../../config/validate.ts';
import type { MetricBatch, RawFamily } from '../../pipeline/data.ts';
import { rawColumnsFamily } from '../../pipeline/series.ts';
import { configSchema, type ResourceProcessorConfig } from './config.ts';
import { resourceProcessorFactory } from './factory.ts';
import { applyResourceActions, compileResourceActions, resource } from './operator.ts';

const noFile = loadConfigSources([{ file: 't.yaml', text: '{}' }]);

function parse(attributes: unknown[]): ResourceProcessorConfig {
  const r = validateValue(configSchema, { attributes }, noFile, ['processors', 'resource']);
  if (!r.value) throw new Error(r.errors.map((e) => e.format()).join('\n'));
  return r.value;
}

// sha256("alice")
const ALICE = '2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90';

const cases: [string, unknown[], Record<string, string>, Record<string, string>][] = [
  [
    'insert adds an absent key',
    [{ key: 'k8s.cluster.name', value: 'eu', action: 'insert' }],
    {},
    { 'k8s.cluster.name': 'eu' },
  ],
  ['insert leaves a present key', [{ key: 'a', value: 'x', action: 'insert' }], { a: '1' }, { a: '1' }],
  ['update changes a present key', [{ key: 'a', value: 'x', action: 'update' }], { a: '1' }, { a: 'x' }],
  ['update ignores an absent key', [{ key: 'c', value: 'x', action: 'update' }], { a: '1' }, { a: '1' }],
  ['upsert adds', [{ key: 'c', value: 'x', action: 'upsert' }], { a: '1' }, { a: '1', c: 'x' }],
  ['upsert changes', [{ key: 'a', value: 'x', action: 'upsert' }], { a: '1' }, { a: 'x' }],
  ['a number value is its text', [{ key: 'p', value: 8080, action: 'insert' }], {}, { p: '8080' }],
  ['a boolean value is its text', [{ key: 'p', value: false, action: 'insert' }], {}, { p: 'false' }],
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
  ['delete', [{ key: 'a', action: 'delete' }], { a: '1', b: '2' }, { b: '2' }],
  ['delete of an absent key', [{ key: 'z', action: 'delete' }], { a: '1' }, { a: '1' }],
  ['hash', [{ key: 'user', action: 'hash' }], { user: 'alice' }, { user: ALICE }],
  ['hash of an absent key', [{ key: 'user', action: 'hash' }], { a: '1' }, { a: '1' }],
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
];

describe('resource: actions', () => {
  for (const [name, actions, input, output] of cases) {
    it(name, () => {
      const attributes = new Map(Object.entries(input));
      applyResourceActions(attributes, compileResourceActions(parse(actions).attributes));
      assert.deepEqual(Object.fromEntries(attributes), output);
    });
  }
});

describe('resource: config', () => {
  async function checkFile(name: string) {
    const file = relative(process.cwd(), join(import.meta.dirname, 'testdata', name));
    const loaded = await loadConfigFiles([file], {});
    const r = validateComponentConfig(configSchema, loaded, ['processors', 'resource']);
    return { file, value: r.value, lines: r.errors.map((e) => e.format()) };
  }

  it('testdata/good.yaml is valid', async () => {
    const { value, lines } = await checkFile('good.yaml');
    assert.deepEqual(lines, []);
    assert.equal(value?.attributes.length, 5);
  });

  it('an empty attributes list is an error', () => {
    const r = validateValue(configSchema, { attributes: [] }, noFile, ['processors', 'resource']);
    assert.deepEqual(
      r.errors.map((e) => [e.code, e.message]),
      [['ERR_CONFIG_VALUE', 'list at least one action']],
    );
  });

  it('testdata/bad.yaml: every problem, positioned, with its code', async () => {
    const { file, lines } = await checkFile('bad.yaml');
    const at = 'processors.resource.attributes';
    assert.deepEqual(lines, [
      `${file}:4:9: ${at}[0].key: missing required key [ERR_CONFIG_MISSING]`,
      `${file}:5:9: ${at}[1]: the upsert action requires 'value' or 'from_attribute' [ERR_CONFIG_MISSING]`,
      `${file}:6:61: ${at}[2].from_attribute: give either 'value' or 'from_attribute', not both [ERR_CONFIG_VALUE]`,
      `${file}:7:40: ${at}[3].value: 'value' is not used by the hash action [ERR_CONFIG_VALUE]`,
      `${file}:8:16: ${at}[4].key: expected a non-empty attribute key [ERR_CONFIG_VALUE]`,
      `${file}:9:27: ${at}[5].action: expected one of insert, update, upsert, delete, hash, got "rename" [ERR_CONFIG_ENUM]`,
      `${file}:10:35: ${at}[6].pattern: unknown key; expected one of key, action, value, from_attribute [ERR_CONFIG_UNKNOWN_KEY]`,
    ]);
  });

  it('the factory is type resource', () => assert.equal(resourceProcessorFactory.type, 'resource'));
});

const family: RawFamily = { name: 'a', help: '', kind: 'counter', startTimeMs: 0, points: [] };
const batch = (res?: Record<string, string>): MetricBatch => ({
  source: 'ebpf/t',
  config: 't',
  timeMs: 0,
  families: [family],
  ...(res ? { resource: res } : {}),
});

const op = (actions: unknown[]) => resource(compileResourceActions(parse(actions).attributes));

describe('resource: operator', () => {
  it('empty: completes without emitting', async () => {
    assert.deepEqual(await lastValueFrom(EMPTY.pipe(op([{ key: 'a', action: 'delete' }]), toArray())), []);
  });

  it('sets the resource of a batch that had none; families pass by identity', async () => {
    const out = await lastValueFrom(of(batch()).pipe(op([{ key: 'env', value: 'prod', action: 'insert' }])));
    assert.deepEqual(out.resource, { env: 'prod' });
    assert.equal(out.families[0], family);
  });

  it('series tables pass by identity; one input resource is rewritten once, its output handed on again', async () => {
    const table = rawColumnsFamily(
      { name: 't', help: '', kind: 'counter', histogram: undefined, startTimeMs: 0 },
      {
        rows: [[{ name: 'x', value: 'v', pending: [] }]],
        values: Float64Array.of(1),
        added: [],
        removed: [],
      },
    );
    const res = { a: '1' };
    const input = (r: Record<string, string> | undefined): MetricBatch => ({
      ...batch(r),
      families: [table],
    });
    const outs = await lastValueFrom(
      of(input(res), input(res), input({ a: '1' }), input(undefined), input(undefined)).pipe(
        op([{ key: 'env', value: 'prod', action: 'upsert' }]),
        toArray(),
      ),
    );
    assert.equal(outs[0]?.families[0], table);
    assert.equal(outs[0]?.families[0]?.columns, table.columns);
    assert.deepEqual(outs[0]?.resource, { a: '1', env: 'prod' });
    assert.equal(outs[1]?.resource, outs[0]?.resource, 'the same input resource: the same output');
    assert.deepEqual(outs[2]?.resource, { a: '1', env: 'prod' });
    assert.notEqual(outs[2]?.resource, outs[0]?.resource, 'another input object: rewritten');
    assert.deepEqual(outs[3]?.resource, { env: 'prod' });
    assert.equal(outs[4]?.resource, outs[3]?.resource);
  });

  it('a resource left empty is removed', async () => {
    const out = await lastValueFrom(of(batch({ a: '1' })).pipe(op([{ key: 'a', action: 'delete' }])));
    assert.equal('resource' in out, false);
  });

  it('does not change the input batch', async () => {
    const input = batch({ a: '1' });
    await lastValueFrom(of(input).pipe(op([{ key: 'a', value: 'x', action: 'update' }])));
    assert.deepEqual(input.resource, { a: '1' });
  });

  it('many, upstream error, never-completing (marbles)', () => {
    const scheduler = new TestScheduler((a, e) => assert.deepEqual(a, e));
    scheduler.run(({ cold, expectObservable }) => {
      const b = batch({ 'host.name': 'n1' });
      const expected = batch({ 'host.name': 'n1', env: 'prod' });
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
