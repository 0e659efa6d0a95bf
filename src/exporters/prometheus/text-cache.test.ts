import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Labels, MetricFamily } from '../../pipeline/data.ts';
import { assertSameExposition, libraryExposition } from '../../../test/helpers/exposition.ts';
import { ExpositionWriter } from './text.ts';

/**
 * The writer's caches by labels-object identity (entries, line starts, value texts): the
 * same labels object across scrapes with changing values, families and label sets coming
 * and going; every scrape checked against the library's serializer (numbers by value).
 */
function same(w: ExpositionWriter, families: readonly MetricFamily[]): void {
  assertSameExposition(w.write(families), libraryExposition(families), 'scrape');
}

const scalar = (name: string, kind: 'counter' | 'gauge', points: [Labels, number][]): MetricFamily => ({
  kind,
  name,
  help: 'h',
  startTimeMs: 0,
  points: points.map(([labels, value]) => ({ labels, value })),
});

test('text cache: one labels object over scrapes, values and families changing, equals the serializer', () => {
  const w = new ExpositionWriter();
  const a: Labels = { comm: 'a"b' };
  const b: Labels = { comm: 'b', pid: '1' };
  const scrapes: MetricFamily[][] = [
    [
      scalar('x_total', 'counter', [
        [a, 1],
        [b, 2],
      ]),
    ],
    [
      scalar('x_total', 'counter', [
        [a, 1],
        [b, 3],
      ]),
    ],
    // The same objects under another family name, and a gauge with a fraction.
    [
      scalar('y_total', 'counter', [[a, 1]]),
      scalar('g', 'gauge', [
        [a, 0.5],
        [b, NaN],
      ]),
    ],
    [scalar('x_total', 'counter', [[b, 2 ** 60]])],
    // a was swept (unseen for a scrape): it comes back as the same object.
    [
      scalar('x_total', 'counter', [
        [a, 7],
        [b, 2 ** 60],
      ]),
    ],
    [
      scalar('x_total', 'counter', [
        [a, -0],
        [b, Infinity],
      ]),
    ],
  ];
  for (const families of scrapes) same(w, families);
  assert.equal(w.cachedLabelSets, 2);
});

test('text cache: a label set unseen for a scrape is forgotten, then written again correctly', () => {
  const w = new ExpositionWriter();
  const labels = Array.from({ length: 50 }, (_, i): Labels => ({ n: String(i) }));
  const all = [
    scalar(
      'c_total',
      'counter',
      labels.map((l, i) => [l, i]),
    ),
  ];
  same(w, all);
  assert.equal(w.cachedLabelSets, 50);
  const few = [
    scalar(
      'c_total',
      'counter',
      labels.slice(0, 5).map((l, i) => [l, i + 1]),
    ),
  ];
  same(w, few);
  assert.equal(w.cachedLabelSets, 5);
  same(w, all);
  assert.equal(w.cachedLabelSets, 50);
});
