import { ValueType, type HrTime } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  type DataPoint,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import type { MetricFamily } from './data.ts';

/** Assembled families → OpenTelemetry MetricData (cumulative, start = attach time). */
export function toMetricData(families: readonly MetricFamily[], endTimeMs: number): MetricData[] {
  const endTime = hrTime(endTimeMs);
  return families.map((f) => {
    const startTime = hrTime(f.startTimeMs);
    if (f.kind === 'histogram') {
      const dataPoints: DataPoint<Histogram>[] = f.points.map((p) => ({
        startTime,
        endTime,
        attributes: p.labels,
        value: {
          buckets: { boundaries: [...p.boundaries], counts: [...p.counts] },
          count: p.count,
          sum: p.sum,
        },
      }));
      return {
        descriptor: { name: f.name, description: f.help, unit: '', valueType: ValueType.DOUBLE },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints,
      };
    }
    const dataPoints: DataPoint<number>[] = f.points.map((p) => ({
      startTime,
      endTime,
      attributes: p.labels,
      value: p.value,
    }));
    const valueType = f.points.every((p) => Number.isSafeInteger(p.value)) ? ValueType.INT : ValueType.DOUBLE;
    const descriptor = { name: f.name, description: f.help, unit: '', valueType };
    if (f.kind === 'gauge') {
      return {
        descriptor,
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.GAUGE,
        dataPoints,
      };
    }
    return {
      descriptor,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.SUM,
      isMonotonic: true,
      dataPoints,
    };
  });
}

export function hrTime(ms: number): HrTime {
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
}
