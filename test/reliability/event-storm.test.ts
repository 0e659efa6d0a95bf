/**
 * Event storm accounting (issue 18): a python3 child makes exactly N getpgid(MARKER) calls;
 * test/bpf/events_test.bpf.o writes one span record per call into its 256 KiB ring `spans`.
 * The agent (bin/ebpf-collector.js run) drains it only every second into a small record queue
 * and sends the spans to a real loopback OTLP/gRPC receiver through a small sending queue, so
 * records are lost at every stage. Produced = delivered + counted drops, exactly, stage by
 * stage:
 *
 *   N                 = events_received_total + events_kernel_dropped_total      (kernel ring)
 *   received          = decoded + events_dropped_total{reason=queue_full}          (JS record queue)
 *   decoded           = exporter_sent_spans_total + exporter_dropped_spans_total   (exporter queue)
 *   sent              = spans the OTLP receiver got
 *
 * The figures are printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet, repoRoot, samples, startAgent } from '../helpers/agent.ts';
import { spansOf, startOtlpReceiver } from '../helpers/otlp-receiver.ts';

const N = Number(process.env['STORM_EVENTS'] ?? 50_000);
const MARKER = 0x3fffff53; // a pid nobody has: getpgid fails with ESRCH, the tracepoint still fires

function config(endpoint: string): string {
  return `receivers:
  ebpf/storm:
    program: ${join(repoRoot, 'build', 'bpf', 'events_test.bpf.o')}
    poll_interval: 1h
    globals: { targ_tgid: 0, targ_marker: ${MARKER}, targ_mode: 4 }
    events: { queue_size: 1000, drain_interval: 1s, batch_size: 256 }
    tracing:
      spans:
        - ringbuf: spans
          labels:
            - { name: trace_id, size: 16, decoders: [{ name: hex }] }
            - { name: parent_span_id, size: 8, decoders: [{ name: hex }] }
            - { name: span_id, size: 8, decoders: [{ name: hex }] }
            - { name: span_monotonic_timestamp_ns, size: 8, decoders: [{ name: uint }] }
            - { name: span_duration_ns, size: 8, decoders: [{ name: uint }] }
            - { name: span_name, size: 16, decoders: [{ name: string }] }
            - { name: seq, size: 4, padding: 4, decoders: [{ name: uint }] }
exporters:
  prometheus:
    endpoint: \${env:EBPF_COLLECTOR_LISTEN}
  otlp:
    endpoint: http://${endpoint}
    sending_queue: { queue_size: 200, batch: { flush_timeout: 50ms } }
service:
  pipelines:
    metrics:
      receivers: [ebpf/storm]
      exporters: [prometheus]
    traces:
      receivers: [ebpf/storm]
      exporters: [otlp]
`;
}

test(
  `event storm: ${N} events, produced = delivered + counted drops at every stage`,
  { timeout: 180_000 },
  async (t) => {
    const receiver = await startOtlpReceiver();
    const dir = mkdtempSync(join(tmpdir(), 'event-storm-'));
    try {
      const file = join(dir, 'storm.yaml');
      writeFileSync(file, config(receiver.endpoint));
      const agent = await startAgent([file]);
      try {
        const py = spawnSync(
          '/usr/bin/python3',
          [
            '-c',
            `import os\nfor _ in range(${N}):\n    try: os.getpgid(${MARKER})\n    except OSError: pass\n`,
          ],
          { encoding: 'utf8', timeout: 60_000 },
        );
        assert.equal(py.status, 0, py.stderr);

        let body = '';
        const sum = (name: string, labels: Record<string, string> = {}): number =>
          samples(body, name)
            .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
            .reduce((a, s) => a + s.value, 0);
        const ring = { config: 'events_test', map: 'spans' };
        const figures = () => {
          const received = sum('ebpf_collector_events_received_total', ring);
          const kernelDropped = sum('ebpf_collector_events_kernel_dropped_total', ring);
          const queueDropped = sum('ebpf_collector_events_dropped_total', ring);
          const sent = sum('ebpf_collector_exporter_sent_spans_total', { exporter: 'otlp' });
          const exporterDropped = sum('ebpf_collector_exporter_dropped_spans_total', { exporter: 'otlp' });
          const delivered = receiver.traceCalls.flatMap(spansOf).length;
          return { received, kernelDropped, queueDropped, sent, exporterDropped, delivered };
        };
        // Settled: every record produced has left the kernel and every queued one was sent or dropped.
        let f = figures();
        const deadline = Date.now() + 60_000;
        for (;;) {
          body = (await httpGet(agent.port, '/metrics')).body;
          f = figures();
          const settled =
            f.received + f.kernelDropped === N &&
            f.received === f.sent + f.exporterDropped + f.queueDropped &&
            f.delivered === f.sent;
          if (settled || Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        t.diagnostic(
          `event storm: ${N} produced; kernel ring: ${f.received} received + ${f.kernelDropped} dropped; ` +
            `record queue: ${f.queueDropped} dropped; exporter: ${f.sent} sent + ${f.exporterDropped} dropped; ` +
            `OTLP receiver got ${f.delivered}`,
        );
        assert.equal(f.received + f.kernelDropped, N, 'kernel ring: produced = received + kernel drops');
        assert.equal(
          f.received,
          f.sent + f.exporterDropped + f.queueDropped,
          'after the ring: received = sent + exporter drops + queue drops',
        );
        assert.equal(f.delivered, f.sent, 'every span counted as sent reached the receiver');
        assert.ok(f.kernelDropped > 0, 'the storm overran the ring (a 256 KiB ring drained every second)');
        assert.ok(f.queueDropped + f.exporterDropped > 0, 'the small queues dropped');
        assert.ok(f.delivered > 0, 'spans were delivered');
      } finally {
        assert.equal(await agent.stop(), 0, agent.logs.join('\n'));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await receiver.close();
    }
  },
);
