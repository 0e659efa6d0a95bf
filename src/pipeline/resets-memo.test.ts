import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Labels, MetricFamily, ScalarPoint } from './data.ts';
import { ResetTracker } from './resets.ts';

// The tracker keys series by labels object (a WeakMap of keys): the same object over
// collections, and equal objects made anew, must be one series.
const family = (points: [Labels, number][]): MetricFamily => ({
  kind: 'counter',
  name: 'c',
  help: 'h',
  startTimeMs: 1_000,
  points: points.map(([labels, value]) => ({ labels, value })),
});

test('resets: one labels object over collections, and an equal new object, are the same series', () => {
  const t = new ResetTracker();
  const a: Labels = { comm: 'a', pid: '1' };
  const startOf = (f: MetricFamily | undefined): number | undefined =>
    (f?.points[0] as ScalarPoint | undefined)?.startTimeMs;
  assert.equal(startOf(t.apply([family([[a, 5]])], 2_000)[0]), undefined);
  assert.equal(startOf(t.apply([family([[a, 7]])], 3_000)[0]), undefined);
  // A reset seen through the same object: the series starts at the last observation.
  assert.equal(startOf(t.apply([family([[a, 2]])], 4_000)[0]), 3_000);
  // An equal object with keys in another order is that series too (no new start, no reset).
  assert.equal(startOf(t.apply([family([[{ pid: '1', comm: 'a' }, 3]])], 5_000)[0]), 3_000);
  assert.equal(t.resets, 1);
  assert.equal(t.size, 1);
});
