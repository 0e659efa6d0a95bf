import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HistogramPoint, MetricFamily, ScalarPoint } from './data.ts';
import { ResetTracker } from './resets.ts';

const ATTACH = 1_000;

function counter(points: Record<string, number>, name = 'c'): MetricFamily {
  return {
    kind: 'counter',
    name,
    help: '',
    startTimeMs: ATTACH,
    points: Object.entries(points).map(([cpu, value]) => ({ labels: { cpu }, value })),
  };
}

function starts(f: MetricFamily | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of (f?.points ?? []) as readonly (ScalarPoint | HistogramPoint)[])
    out[p.labels['cpu'] ?? ''] = p.startTimeMs ?? f?.startTimeMs ?? -1;
  return out;
}

describe('ResetTracker', () => {
  it('keeps the attach time while counters grow', () => {
    const t = new ResetTracker();
    assert.deepEqual(starts(t.apply([counter({ '0': 5, '1': 7 })], 2_000)[0]), { '0': ATTACH, '1': ATTACH });
    assert.deepEqual(starts(t.apply([counter({ '0': 6, '1': 7 })], 3_000)[0]), { '0': ATTACH, '1': ATTACH });
    assert.equal(t.resets, 0);
  });

  it('a decrease is a reset: the series starts at its last observation, the others keep theirs', () => {
    const t = new ResetTracker();
    t.apply([counter({ '0': 5, '1': 7 })], 2_000);
    const [f] = t.apply([counter({ '0': 2, '1': 8 })], 3_000);
    assert.deepEqual(starts(f), { '0': 2_000, '1': ATTACH });
    assert.equal(t.resets, 1);
    // It stays so while it grows again; the same batch seen again changes nothing.
    assert.deepEqual(starts(t.apply([counter({ '0': 4, '1': 9 })], 4_000)[0]), { '0': 2_000, '1': ATTACH });
    assert.deepEqual(starts(t.apply([counter({ '0': 4, '1': 9 })], 4_000)[0]), { '0': 2_000, '1': ATTACH });
    assert.equal(t.resets, 1);
  });

  it('a series that appears in a family already seen starts at the previous observation', () => {
    const t = new ResetTracker();
    t.apply([counter({ '0': 5 })], 2_000);
    assert.deepEqual(starts(t.apply([counter({ '0': 5, '1': 1 })], 3_000)[0]), { '0': ATTACH, '1': 2_000 });
  });

  it('a histogram whose count decreases is reset; gauges pass through', () => {
    const t = new ResetTracker();
    const hist = (count: number): MetricFamily => ({
      kind: 'histogram',
      name: 'h',
      help: '',
      startTimeMs: ATTACH,
      points: [{ labels: { cpu: '0' }, boundaries: [1], counts: [count, 0], sum: count, count }],
    });
    const gauge: MetricFamily = {
      kind: 'gauge',
      name: 'g',
      help: '',
      startTimeMs: ATTACH,
      points: [{ labels: {}, value: 3 }],
    };
    t.apply([hist(10), gauge], 2_000);
    const [h, g] = t.apply([hist(3), { ...gauge, points: [{ labels: {}, value: 1 }] }], 3_000);
    assert.deepEqual(starts(h), { '0': 2_000 });
    assert.equal(g?.points[0]?.startTimeMs, undefined);
    assert.equal(t.resets, 1);
  });

  it('forgets series not seen for retainMs (bounded); one that comes back is new', () => {
    const t = new ResetTracker(1_000);
    t.apply([counter({ '0': 5, '1': 5 })], 2_000);
    for (let i = 0; i < 100; i++) t.apply([counter({ [`x${i}`]: 1 }, `other${i}`)], 2_000);
    assert.equal(t.size, 102);
    t.apply([counter({ '0': 6 })], 3_500);
    t.sweep(3_500);
    assert.equal(t.size, 1, 'only the series seen in the last second');
    // '1' came back with a lower value: it is new, not compared with the forgotten 5.
    assert.deepEqual(starts(t.apply([counter({ '0': 7, '1': 1 })], 4_000)[0]), { '0': ATTACH, '1': 3_500 });
    assert.equal(t.resets, 0);
  });
});
