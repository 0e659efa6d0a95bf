import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Labels, MetricFamily } from './data.ts';
import { ResetTracker } from './resets.ts';
import { scalarColumnsFamily } from './series.ts';
import { SEMANTIC_ATTRIBUTE_NAMES, toMetricData } from './otel.ts';
import { otlpRequest } from '../../test/helpers/otlp-request.ts';

/**
 * The OTLP path on series tables (README.md): counter resets tracked per row, attributes
 * kept per series, and the request the library's serializer makes byte for byte the one
 * it makes from the same data as points.
 */
const rows: Labels[] = [{ comm: 'a', k8s_pod_name: 'p1' }, { comm: 'b', k8s_pod_name: 'p2' }, { comm: 'c' }];

const table = (values: number[], kind: 'counter' | 'gauge' = 'counter'): MetricFamily =>
  scalarColumnsFamily(
    { kind, name: 'calls', help: 'h', startTimeMs: 1_000 },
    { rows, values: Float64Array.from(values) },
  );

const asPoints = (f: MetricFamily): MetricFamily => ({ ...f, points: [...f.points] }) as MetricFamily;

test('series tables on the OTLP path: resets, start times and the request equal the points path', () => {
  const onTables = new ResetTracker();
  const onPoints = new ResetTracker();
  // A reset of b at the third collection, of a at the fourth; c fractional at the last.
  const collections = [
    [5, 7, 1],
    [6, 9, 1],
    [6, 2, 1],
    [0, 3, 2],
    [1, 4, 2.5],
  ];
  collections.forEach((values, i) => {
    const at = 2_000 + i * 1_000;
    const tables = onTables.apply([table(values), table(values, 'gauge')], at);
    const points = onPoints.apply([asPoints(table(values)), asPoints(table(values, 'gauge'))], at);
    assert.deepEqual(
      tables.map((f) => f.points),
      points.map((f) => f.points),
      `collection ${i}: points`,
    );
    assert.ok(
      tables.every((f) => f.kind !== 'histogram' && f.columns !== undefined),
      'still tables',
    );
    assert.deepEqual(otlpRequest(tables, at), otlpRequest(points, at), `collection ${i}: request bytes`);
  });
  assert.equal(onTables.resets, onPoints.resets);
  assert.equal(onTables.resets, 2);
});

test('series tables on the OTLP path: a series keeps its renamed attributes object across exports', () => {
  const first = toMetricData([table([1, 2, 3])], 5_000, { attributeNames: SEMANTIC_ATTRIBUTE_NAMES });
  const second = toMetricData([table([4, 5, 6])], 6_000, { attributeNames: SEMANTIC_ATTRIBUTE_NAMES });
  const attrs = (m: typeof first): unknown[] => (m[0]?.dataPoints ?? []).map((p) => p.attributes);
  assert.deepEqual(attrs(first)[0], { comm: 'a', 'k8s.pod.name': 'p1' });
  attrs(first).forEach((a, i) => assert.equal(attrs(second)[i], a));
  assert.equal(attrs(first)[2], rows[2], 'labels with nothing to rename are the attributes');
});
