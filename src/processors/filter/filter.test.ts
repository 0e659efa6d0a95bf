import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { EMPTY, lastValueFrom, of, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { loadConfigFiles, loadConfigSources } from '../../config/load.ts';
import { validateComponentConfig, validateValue } from '../../config/validate.ts';
import type { PointCounts } from '../../labels/points.ts';
import type { LabelSlot, MetricBatch, RawFamily } from '../../pipeline/data.ts';
import { configSchema, type FilterProcessorConfig } from './config.ts';
import { compileFilter, filter, keepMetric, keepPoint } from './operator.ts';

const noFile = loadConfigSources([{ file: 't.yaml', text: '{}' }]);

function parse(config: unknown): FilterProcessorConfig {
  const r = validateValue(configSchema, config, noFile, ['processors', 'filter']);
  if (!r.value) throw new Error(r.errors.map((e) => e.format()).join('\n'));
  return r.value;
}

describe('filter: metric names', () => {
  const cases: [string, unknown, Record<string, boolean>][] = [
    ['no config keeps everything', {}, { a: true, b_total: true }],
    ['include by exact name', { metrics: { include: ['a'] } }, { a: true, ab: false }],
    [
      'include by regexp is anchored',
      { metrics: { include: ['/ebpf_.*/'] } },
      { ebpf_x: true, x_ebpf_x: false },
    ],
    ['exclude by name', { metrics: { exclude: ['a'] } }, { a: false, b: true }],
    [
      'exclude wins over include',
      { metrics: { include: ['/ebpf_.*/'], exclude: ['/.*_tmp/'] } },
      { ebpf_a: true, ebpf_a_tmp: false, other: false },
    ],
    [
      'a name with slashes only at one end is exact',
      { metrics: { include: ['/a'] } },
      { '/a': true, a: false },
    ],
    ['(?i) in a name regexp', { metrics: { exclude: ['/(?i)EBPF_.*/'] } }, { ebpf_x: false, x: true }],
  ];
  for (const [name, config, expected] of cases) {
    it(name, () => {
      const f = compileFilter(parse(config));
      for (const [metric, keep] of Object.entries(expected))
        assert.equal(keepMetric(f, metric), keep, metric);
    });
  }
});

describe('filter: datapoint matchers (Prometheus semantics)', () => {
  const L = (o: Record<string, string>) => new Map(Object.entries({ __name__: 'm', ...o }));
  const cases: [string, unknown, [Record<string, string>, boolean][]][] = [
    [
      '= keeps equal',
      { include: [{ label: 'a', value: 'x' }] },
      [
        [{ a: 'x' }, true],
        [{ a: 'y' }, false],
      ],
    ],
    [
      '= "" matches an absent label',
      { include: [{ label: 'a', value: '' }] },
      [
        [{}, true],
        [{ a: 'x' }, false],
      ],
    ],
    [
      '!= keeps different and absent',
      { include: [{ label: 'a', op: '!=', value: 'x' }] },
      [
        [{ a: 'x' }, false],
        [{}, true],
        [{ a: 'y' }, true],
      ],
    ],
    [
      '=~ is anchored',
      { include: [{ label: 'a', regex: 'b' }] },
      [
        [{ a: 'b' }, true],
        [{ a: 'abc' }, false],
      ],
    ],
    ['=~ .* matches absent', { include: [{ label: 'a', regex: '.*' }] }, [[{}, true]]],
    [
      '!~ negates',
      { include: [{ label: 'a', op: '!~', regex: 'x|y' }] },
      [
        [{ a: 'x' }, false],
        [{ a: 'z' }, true],
      ],
    ],
    [
      '=~ .+ needs a non-empty value',
      { include: [{ label: 'a', op: '=~', regex: '.+' }] },
      [
        [{}, false],
        [{ a: 'v' }, true],
      ],
    ],
    [
      'include matchers all must match',
      {
        include: [
          { label: 'a', value: 'x' },
          { label: 'b', value: 'y' },
        ],
      },
      [
        [{ a: 'x', b: 'y' }, true],
        [{ a: 'x', b: 'z' }, false],
      ],
    ],
    [
      'exclude drops only when all match',
      {
        exclude: [
          { label: 'a', value: 'x' },
          { label: 'b', value: 'y' },
        ],
      },
      [
        [{ a: 'x', b: 'y' }, false],
        [{ a: 'x' }, true],
      ],
    ],
    ['__name__ is matchable', { exclude: [{ label: '__name__', regex: 'm' }] }, [[{}, false]]],
    ['. matches a newline', { include: [{ label: 'a', regex: 'x.y' }] }, [[{ a: 'x\ny' }, true]]],
    [
      'include then exclude',
      { include: [{ label: 'a', regex: 'x.*' }], exclude: [{ label: 'a', value: 'xz' }] },
      [
        [{ a: 'xy' }, true],
        [{ a: 'xz' }, false],
        [{ a: 'y' }, false],
      ],
    ],
  ];
  for (const [name, datapoints, rows] of cases) {
    it(name, () => {
      const f = compileFilter(parse({ datapoints }));
      for (const [labels, keep] of rows) assert.equal(keepPoint(f, L(labels)), keep, JSON.stringify(labels));
    });
  }
});

describe('filter: config', () => {
  async function checkFile(name: string) {
    const file = relative(process.cwd(), join(import.meta.dirname, 'testdata', name));
    const loaded = await loadConfigFiles([file], {});
    const r = validateComponentConfig(configSchema, loaded, ['processors', 'filter']);
    return { file, value: r.value, lines: r.errors.map((e) => e.format()) };
  }

  it('defaults: nothing filtered', () => {
    assert.deepEqual(parse({}), { metrics: { exclude: [] }, datapoints: { exclude: [] } });
  });

  it('testdata/good.yaml is valid', async () => {
    const { value, lines } = await checkFile('good.yaml');
    assert.deepEqual(lines, []);
    assert.deepEqual(value?.datapoints.exclude, [
      { label: 'comm', regex: 'kworker/.*' },
      { label: 'cpu', op: '!=', value: '0' },
    ]);
  });

  it('testdata/bad.yaml: every problem, positioned, with its code', async () => {
    const { file, lines } = await checkFile('bad.yaml');
    const at = 'processors.filter';
    assert.deepEqual(lines, [
      `${file}:4:16: ${at}.metrics.include: list at least one name, or leave include out [ERR_CONFIG_VALUE]`,
      `${file}:5:20: ${at}.metrics.exclude[0]: not a valid RE2 regexp: RE2 has no lookahead or lookbehind ((?<=…) [ERR_CONFIG_REGEXP]`,
      `${file}:5:30: ${at}.metrics.exclude[1]: expected a metric name or /regexp/, got "" [ERR_CONFIG_VALUE]`,
      `${file}:8:11: ${at}.datapoints.include[0]: a matcher needs 'value' (for = and !=) or 'regex' (for =~ and !~) [ERR_CONFIG_MISSING]`,
      `${file}:9:20: ${at}.datapoints.include[1].label: "bad-name" is not a valid label name (letters, digits, _) [ERR_CONFIG_VALUE]`,
      `${file}:10:30: ${at}.datapoints.include[2].op: op =~ takes 'regex', not 'value' [ERR_CONFIG_VALUE]`,
      `${file}:11:30: ${at}.datapoints.include[3].op: expected one of =, !=, =~, !~, got "~" [ERR_CONFIG_ENUM]`,
      `${file}:12:7: ${at}.datapoints.exlude: unknown key; expected one of include, exclude (did you mean "exclude"?) [ERR_CONFIG_UNKNOWN_KEY]`,
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

function op(config: unknown, counts: PointCounts[] = []) {
  return filter(compileFilter(parse(config)), (_b, c) => counts.push(c));
}

describe('filter: operator', () => {
  it('empty: completes without emitting', async () => {
    assert.deepEqual(await lastValueFrom(EMPTY.pipe(op({}), toArray())), []);
  });

  it('no filter: the batch passes by identity', async () => {
    const b = batch(family('a', [{ labels: [slot('k', 'v')], value: 1 }]));
    assert.equal(await lastValueFrom(of(b).pipe(op({}))), b);
  });

  it('drops metrics by name even when labels are pending', async () => {
    const pending: LabelSlot = { name: 'fn', value: new Uint8Array(8), pending: [{ name: 'ksym' }] };
    const b = batch(family('keep', []), family('drop_me', [{ labels: [pending], value: 1 }]));
    const out = await lastValueFrom(of(b).pipe(op({ metrics: { exclude: ['drop_me'] } })));
    assert.deepEqual(
      out.families.map((f) => f.name),
      ['keep'],
    );
  });

  it('drops points; removes a family it emptied, keeps one that came empty; skips pending points', async () => {
    const pending: LabelSlot = { name: 'fn', value: new Uint8Array(8), pending: [{ name: 'ksym' }] };
    const counts: PointCounts[] = [];
    const b = batch(
      family('a', [
        { labels: [slot('comm', 'kworker/1')], value: 1 },
        { labels: [slot('comm', 'bash')], value: 2 },
      ]),
      family('b', [{ labels: [slot('comm', 'kworker/2')], value: 3 }]),
      family('c', []),
      family('d', [{ labels: [pending], value: 4 }]),
    );
    const out = await lastValueFrom(
      of(b).pipe(op({ datapoints: { exclude: [{ label: 'comm', regex: 'kworker/.*' }] } }, counts)),
    );
    assert.deepEqual(
      out.families.map((f) => [f.name, f.points.map((p) => p.value)]),
      [
        ['a', [2]],
        ['c', []],
        ['d', [4]],
      ],
    );
    assert.equal(counts[0]?.skipped, 1);
  });

  it('many, upstream error, never-completing (marbles)', () => {
    const scheduler = new TestScheduler((a, e) => assert.deepEqual(a, e));
    scheduler.run(({ cold, expectObservable }) => {
      const b = batch(family('a', [{ labels: [slot('k', 'x')], value: 1 }]), family('z', []));
      const expected = batch(family('z', []));
      const config = { metrics: { exclude: ['a'] } };
      expectObservable(cold('a-b-|', { a: b, b }).pipe(op(config))).toBe('a-b-|', {
        a: expected,
        b: expected,
      });
      expectObservable(cold('a-#', { a: b }).pipe(op(config))).toBe('a-#', { a: expected });
      expectObservable(cold('a--', { a: b }).pipe(op(config))).toBe('a--', { a: expected });
    });
  });
});
