/**
 * The OTLP metrics request the exporter's serializer makes from metric families, as bytes:
 * tests compare the series-table path's request with the points path's byte for byte.
 */
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { emptyResource } from '@opentelemetry/resources';
import type { MetricFamily } from '../../src/pipeline/data.ts';
import { SEMANTIC_ATTRIBUTE_NAMES, toMetricData } from '../../src/pipeline/otel.ts';

export function otlpRequest(families: readonly MetricFamily[], timeMs: number): Uint8Array | undefined {
  return ProtobufMetricsSerializer.serializeRequest({
    resource: emptyResource(),
    scopeMetrics: [
      {
        scope: { name: 'ebpf-collector' },
        metrics: toMetricData(families, timeMs, { attributeNames: SEMANTIC_ATTRIBUTE_NAMES }),
      },
    ],
  });
}
