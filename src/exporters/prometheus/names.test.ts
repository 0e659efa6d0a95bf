import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetricFamily } from '../../pipeline/data.ts';
import { scalarColumnsFamily } from '../../pipeline/series.ts';
import { prometheusFamilies, type Problem } from './names.ts';

const counter = (points: Record<string, string>[]): MetricFamily => ({
  kind: 'counter',
  name: 'calls',
  help: 'h',
  startTimeMs: 0,
  points: points.map((labels, i) => ({ labels, value: i })),
});

describe('prometheusFamilies: series of one family from several sources', () => {
  it('the same label set with its keys in another order is a duplicate (dropped, counted)', () => {
    const problems: Problem[] = [];
    const out = prometheusFamilies(
      [
        counter([{ a: '1', b: '2' }]),
        counter([
          { b: '2', a: '1' },
          { b: '3', a: '1' },
        ]),
      ],
      '',
      (p) => problems.push(p),
    );
    assert.equal(out.length, 1);
    assert.deepEqual(
      out[0]?.points.map((p) => p.labels),
      [
        { a: '1', b: '2' },
        { b: '3', a: '1' },
      ],
    );
    assert.deepEqual(
      problems.map((p) => [p.reason, p.series]),
      [['duplicate_series', 1]],
    );
  });

  it('integer-like label names (enumerated first by JS) still compare as sets', () => {
    const problems: Problem[] = [];
    const out = prometheusFamilies(
      [counter([{ x: 'v', 2: 'a', 12: 'b' }]), counter([{ 12: 'b', x: 'v', 2: 'a' }])],
      '',
      (p) => problems.push(p),
    );
    assert.equal(out[0]?.points.length, 1);
    assert.equal(problems.length, 1);
  });

  it('points whose label names need no renaming are passed on as they are; others get exposed names', () => {
    const plain = counter([{ function: 'f' }]);
    const dotted = { ...counter([{ 'k8s.pod': 'p' }]), name: 'other' };
    const out = prometheusFamilies([plain, dotted], '', () => undefined);
    assert.equal(out[0]?.points[0], plain.points[0]);
    assert.deepEqual(out[1]?.points[0]?.labels, { k8s_pod: 'p' });
  });
});

describe('prometheusFamilies with distinctWithinFamily (input straight from assemble)', () => {
  it('still drops a series a second source repeats, in any key order', () => {
    const problems: Problem[] = [];
    const out = prometheusFamilies(
      [
        counter([
          { a: '1', b: '2' },
          { a: '1', b: '3' },
        ]),
        counter([{ b: '2', a: '1' }]),
      ],
      '',
      (p) => problems.push(p),
      { distinctWithinFamily: true },
    );
    assert.equal(out[0]?.points.length, 2);
    assert.deepEqual(
      problems.map((p) => [p.reason, p.series]),
      [['duplicate_series', 1]],
    );
  });
});

describe('prometheusFamilies: series tables (src/pipeline/README.md)', () => {
  const table = (rows: Record<string, string>[], name = 'calls'): MetricFamily =>
    scalarColumnsFamily(
      { kind: 'counter', name, help: 'h', startTimeMs: 0 },
      { rows, values: Float64Array.from(rows, (_, i) => i + 1) },
    );

  it('a family’s only source with names as they are: its table passed on, renamed', () => {
    const f = table([{ a: '1' }, { a: '2' }]);
    const [out] = prometheusFamilies([f], 'ns', () => assert.fail('no problem'), {
      distinctWithinFamily: true,
    });
    assert.equal(out?.name, 'ns_calls_total');
    assert.equal(out?.kind !== 'histogram' && out?.columns, f.kind !== 'histogram' && f.columns);
    assert.deepEqual(
      out?.points.map((p) => [p.labels, 'value' in p ? p.value : 0]),
      [
        [{ a: '1' }, 1],
        [{ a: '2' }, 2],
      ],
    );
  });

  it('label names that change, or a second source: points, as for any family', () => {
    const [renamed] = prometheusFamilies([table([{ 'a.b': '1' }])], '', () => {}, {
      distinctWithinFamily: true,
    });
    assert.equal(renamed?.kind !== 'histogram' ? renamed?.columns : 'x', undefined);
    assert.deepEqual(renamed?.points, [{ labels: { a_b: '1' }, value: 1 }]);
    const problems: Problem[] = [];
    const [merged] = prometheusFamilies(
      [table([{ a: '1' }, { a: '2' }]), table([{ a: '2' }, { a: '3' }])],
      '',
      (p) => problems.push(p),
      { distinctWithinFamily: true },
    );
    assert.equal(merged?.kind !== 'histogram' ? merged?.columns : 'x', undefined);
    assert.deepEqual(
      merged?.points.map((p) => p.labels),
      [{ a: '1' }, { a: '2' }, { a: '3' }],
    );
    assert.deepEqual(
      problems.map((p) => [p.reason, p.series]),
      [['duplicate_series', 1]],
    );
  });
});
