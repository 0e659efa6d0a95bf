import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { Subject } from 'rxjs';
import type { MetricBatch, SpanBatch, SpanRecord } from '../../pipeline/data.ts';
import { SelfTelemetry } from '../../pipeline/telemetry.ts';
import {
  attributesOf,
  pointsOf,
  spansOf,
  startOtlpReceiver,
  type GrpcAnswer,
} from '../../../test/helpers/otlp-receiver.ts';
import { testHost } from '../../../test/helpers/host.ts';
import { configSchema } from './config.ts';
import { OtlpExporter } from './otlp.ts';
import { DROP_REASONS } from './sender.ts';
import { channelCredentials } from './tls.ts';
import { grpcWire } from './transport.ts';
import { seededRandom as random } from '../../../test/helpers/random.ts';

/**
 * The sender's accounting under a receiver that fails at random (a real OTLP/gRPC receiver,
 * scripted): retryable and final failures, RetryInfo, partial successes, a small queue, several
 * resources per collection. Whatever happens, every item taken in is sent or dropped exactly
 * once, what is counted as sent is what the receiver accepted, and nothing arrives twice.
 */

const UNAVAILABLE = 14;
const PERMISSION_DENIED = 7;
const RESOURCE_EXHAUSTED = 8;

function answers(rand: () => number, n: number): GrpcAnswer[] {
  return Array.from({ length: n }, (): GrpcAnswer => {
    const r = rand();
    if (r < 0.45) return 0;
    if (r < 0.75) return UNAVAILABLE;
    if (r < 0.85) return { code: RESOURCE_EXHAUSTED, retryDelayMs: 5 };
    if (r < 0.92) return RESOURCE_EXHAUSTED; // without RetryInfo: final
    return PERMISSION_DENIED; // final
  });
}

function rig(endpoint: string) {
  const config = configSchema.parse({
    endpoint: `http://${endpoint}`,
    interval: '1h',
    timeout: '2s',
    retry_on_failure: { initial_interval: '2ms', max_interval: '10ms', max_elapsed_time: '40ms' },
    sending_queue: { queue_size: 40, batch: { max_size: 7, flush_timeout: '5ms' }, num_consumers: 2 },
  });
  const exporter = new OtlpExporter(
    'otlp',
    config,
    grpcWire(config, channelCredentials(config, '.', 'exporters.otlp')),
    pino({ level: 'silent' }),
  );
  const telemetry = new SelfTelemetry();
  const count = (name: string, labels: Record<string, string>): number =>
    telemetry.counter(name, '').value(labels) ?? 0;
  const dropped = (unit: string): number =>
    DROP_REASONS.reduce(
      (n, reason) => n + count(`exporter_dropped_${unit}_total`, { exporter: 'otlp', reason }),
      0,
    );
  return { exporter, host: testHost({ telemetry }), count, dropped };
}

describe('otlp sender: exact accounting under random failures', () => {
  for (const seed of [1, 2, 3]) {
    it(`spans, seed ${seed}: taken in = sent + dropped; sent = accepted by the receiver; none twice`, async () => {
      const rand = random(seed);
      const receiver = await startOtlpReceiver();
      const r = rig(receiver.endpoint);
      const spans = new Subject<SpanBatch>();
      r.exporter.consumeSpans(spans);
      let produced = 0;
      try {
        await r.exporter.start(r.host);
        for (let burst = 0; burst < 30; burst++) {
          receiver.failNextEvents(
            'traces',
            ...(answers(rand, 3) as number[]).filter((a) => typeof a === 'number'),
          );
          if (rand() < 0.2) {
            const n = 1 + Math.floor(rand() * 3);
            receiver.rejectNext('traces', n, 'too old');
          }
          const batch: SpanRecord[] = [];
          const size = 1 + Math.floor(rand() * 25);
          for (let i = 0; i < size; i++, produced++) {
            batch.push({
              traceId: (produced + 1).toString(16).padStart(32, '0'),
              spanId: (produced + 1).toString(16).padStart(16, '0'),
              name: 's',
              startTimeUnixNano: 1n,
              endTimeUnixNano: 2n,
              attributes: {},
            });
          }
          spans.next({ source: 'ebpf/t', config: 't', spans: batch });
          await delay(Math.floor(rand() * 15));
        }
        await r.exporter.events.traces?.idle();
      } finally {
        await r.exporter.shutdown();
        await receiver.close();
      }
      const accepted = receiver.traceCalls.filter((c) => c.answered === 0);
      const ids = accepted.flatMap((c) => spansOf(c).map((s) => s.span.spanId));
      const rejected = r.count('exporter_dropped_spans_total', { exporter: 'otlp', reason: 'rejected' });
      const sent = r.count('exporter_sent_spans_total', { exporter: 'otlp' });
      assert.equal(new Set(ids).size, ids.length, 'no span delivered twice');
      assert.equal(sent + rejected, ids.length, 'sent + rejected = spans in accepted requests');
      assert.equal(sent + r.dropped('spans'), produced, 'every span sent or dropped');
      assert.ok(r.dropped('spans') > 0 && sent > 0, `a mix: ${sent} sent, ${r.dropped('spans')} dropped`);
    });

    it(`metrics, seed ${seed}: points collected = sent + dropped; sent = accepted; no request twice`, async () => {
      const rand = random(seed * 7919);
      const receiver = await startOtlpReceiver();
      const r = rig(receiver.endpoint);
      const input = new Subject<MetricBatch>();
      r.exporter.consume(input);
      try {
        await r.exporter.start(r.host);
        for (let tick = 0; tick < 25; tick++) {
          receiver.failNext(...answers(rand, 2));
          for (const zone of ['a', 'b', 'c'])
            input.next({
              source: `ebpf/${zone}`,
              config: zone,
              timeMs: Date.now(),
              resource: { zone },
              families: [
                {
                  name: 'calls_total',
                  help: 'h',
                  kind: 'counter',
                  startTimeMs: 1_000,
                  points: Array.from({ length: 1 + Math.floor(rand() * 5) }, (_, i) => ({
                    labels: [{ name: 'comm', value: `c${i}`, pending: [] }],
                    value: tick,
                  })),
                },
              ],
            });
          await r.exporter.metrics?.tick();
          await delay(Math.floor(rand() * 20));
        }
        await r.exporter.metrics?.idle();
      } finally {
        await r.exporter.shutdown();
        await receiver.close();
      }
      const accepted = receiver.calls.filter((c) => c.answered === 0);
      const keys = accepted.map((c) => {
        const rm = c.request.resourceMetrics?.[0];
        const time = rm?.scopeMetrics?.[0]?.metrics?.[0]?.sum?.dataPoints?.[0]?.timeUnixNano;
        return `${JSON.stringify(attributesOf(rm?.resource?.attributes))} ${time}`;
      });
      const sent = r.count('exporter_sent_metric_points_total', { exporter: 'otlp' });
      assert.equal(new Set(keys).size, keys.length, 'no request delivered twice');
      assert.equal(
        sent,
        accepted.reduce((n, c) => n + pointsOf(c), 0),
        'sent = points in accepted requests',
      );
      const produced = r.exporter.metrics?.produced ?? 0;
      assert.equal(sent + r.dropped('metric_points'), produced, 'every point sent or dropped');
      assert.ok(
        r.dropped('metric_points') > 0 && sent > 0,
        `a mix: ${sent} sent, ${r.dropped('metric_points')} dropped`,
      );
    });
  }
});
