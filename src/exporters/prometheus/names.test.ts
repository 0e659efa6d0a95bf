import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetricFamily } from '../../pipeline/data.ts';
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
