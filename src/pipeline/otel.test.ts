import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataPointType } from '@opentelemetry/sdk-metrics';
import type { HistogramPoint, MetricFamily } from './data.ts';
import { SEMANTIC_ATTRIBUTE_NAMES, toExponential, toMetricData } from './otel.ts';

function point(boundaries: number[], counts: number[]): HistogramPoint {
  return { labels: {}, boundaries, counts, sum: 1, count: counts.reduce((a, b) => a + b, 0) };
}

describe('toExponential (scale 0)', () => {
  it('exp2 from bucket 0: bound 2^k is index k-1; the first bucket keeps its upper bound', () => {
    // bounds 1, 2, 4, 8 → indexes -1, 0, 1, 2
    assert.deepEqual(toExponential(point([1, 2, 4, 8], [3, 1, 0, 4, 0])), {
      count: 8,
      sum: 1,
      scale: 0,
      zeroCount: 0,
      positive: { offset: -1, bucketCounts: [3, 1, 0, 4] },
      negative: { offset: 0, bucketCounts: [] },
    });
  });

  it('exp2 from a higher bucket_min and with a power-of-two multiplier', () => {
    assert.deepEqual(toExponential(point([16, 32, 64], [1, 2, 3, 0]))?.positive, {
      offset: 3,
      bucketCounts: [1, 2, 3],
    });
    // multiplier 2^-10: bounds 2^-10, 2^-9 → indexes -11, -10
    assert.deepEqual(toExponential(point([2 ** -10, 2 ** -9], [1, 2, 0]))?.positive, {
      offset: -11,
      bucketCounts: [1, 2],
    });
  });

  it('exp2zero: the bucket with bound 0 is zeroCount, bound 1 is index -1', () => {
    const e = toExponential(point([0, 1, 2, 4], [5, 1, 2, 3, 0]));
    assert.equal(e?.zeroCount, 5);
    assert.deepEqual(e?.positive, { offset: -1, bucketCounts: [1, 2, 3] });
  });

  it('stays explicit: non-power-of-two bounds, gaps, linear layouts, a count above the last bound', () => {
    assert.equal(toExponential(point([1000, 2000, 4000], [0, 0, 0, 0])), undefined); // multiplier 1000
    assert.equal(toExponential(point([1, 2, 8], [0, 0, 0, 0])), undefined); // gap
    assert.equal(toExponential(point([1, 2, 3, 4], [0, 0, 0, 0, 0])), undefined); // linear
    assert.equal(toExponential(point([1, 2, 4], [0, 0, 0, 1])), undefined); // +Inf used
    assert.equal(toExponential(point([], [0])), undefined);
  });

  it('toMetricData: exponential only when asked and when every point maps; per-point start times', () => {
    const f: MetricFamily = {
      kind: 'histogram',
      name: 'h',
      help: '',
      startTimeMs: 1_000,
      points: [{ ...point([1, 2], [1, 1, 0]), startTimeMs: 2_500 }],
    };
    assert.equal(toMetricData([f], 3_000)[0]?.dataPointType, DataPointType.HISTOGRAM);
    const [m] = toMetricData([f], 3_000, { histograms: 'exponential' });
    assert.equal(m?.dataPointType, DataPointType.EXPONENTIAL_HISTOGRAM);
    assert.deepEqual(m?.dataPoints[0]?.startTime, [2, 500_000_000]);
    const linear: MetricFamily = { ...f, points: [point([1, 2, 3], [0, 0, 0, 0])] };
    assert.equal(
      toMetricData([linear], 3_000, { histograms: 'exponential' })[0]?.dataPointType,
      DataPointType.HISTOGRAM,
    );
  });
});

describe('attribute names', () => {
  it('renames processor labels to semantic-convention names when asked, and leaves others alone', () => {
    const family: MetricFamily = {
      kind: 'counter',
      name: 'c_total',
      help: 'h',
      startTimeMs: 0,
      points: [{ labels: { k8s_pod_name: 'web', container_id: 'abc', comm: 'nginx' }, value: 1 }],
    };
    const [semantic] = toMetricData([family], 1, { attributeNames: SEMANTIC_ATTRIBUTE_NAMES });
    assert.deepEqual(semantic?.dataPoints[0]?.attributes, {
      'k8s.pod.name': 'web',
      'container.id': 'abc',
      comm: 'nginx',
    });
    const [asIs] = toMetricData([family], 1);
    assert.deepEqual(asIs?.dataPoints[0]?.attributes, {
      k8s_pod_name: 'web',
      container_id: 'abc',
      comm: 'nginx',
    });
  });
});
