/**
 * Kernel events to OTLP, end to end: the agent (bin/ebpf-collector.js run) loads
 * test/bpf/events_test.bpf.o, whose tracepoint on getpgid(MARKER) writes one span record
 * into the ring buffer `spans` and one event record into the ring buffer `events` per
 * call. A python3 child makes exactly N such calls; the agent's traces and logs pipelines
 * must deliver N spans and N log records to a loopback OTLP/gRPC receiver, with the
 * reserved span fields mapped (ids as bytes, root without parent, wall-clock times,
 * name) and typed log attributes, and count them in its self-metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet, repoRoot, samples, startAgent } from '../helpers/agent.ts';
import { logRecordsOf, spansOf, startOtlpReceiver, typedAttributes } from '../helpers/otlp-receiver.ts';

const N = 25;
const MARKER = 0x3fffff51; // a pid nobody has: getpgid fails with ESRCH, the tracepoint still fires

const LABELS = `
            - { name: pid, size: 4, decoders: [{ name: uint }] }
            - { name: seq, size: 4, decoders: [{ name: uint }] }
            - { name: comm, size: 16, decoders: [{ name: string }] }`;

function config(endpoint: string): string {
  return `receivers:
  ebpf/events:
    program: ${join(repoRoot, 'build', 'bpf', 'events_test.bpf.o')}
    poll_interval: 1h
    globals: { targ_tgid: 0, targ_marker: ${MARKER}, targ_mode: 5 }
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
    logs:
      - name: getpgid
        map: events
        severity: info
        body: "{comm} #{seq} value={value}"
        time_field: ts
        labels:${LABELS}
        fields:
          - { name: value, offset: 24, size: 8 }
          - { name: ts, offset: 32, size: 8 }
processors:
  resource:
    attributes:
      - { key: k8s.cluster.name, value: e2e, action: insert }
exporters:
  prometheus:
    endpoint: \${env:EBPF_COLLECTOR_LISTEN}
  otlp:
    endpoint: http://${endpoint}
    sending_queue: { batch: { flush_timeout: 50ms } }
service:
  pipelines:
    metrics:
      receivers: [ebpf/events]
      exporters: [prometheus]
    traces:
      receivers: [ebpf/events]
      processors: [resource]
      exporters: [otlp]
    logs:
      receivers: [ebpf/events]
      processors: [resource]
      exporters: [otlp]
`;
}

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a ring-buffer tracing program: N spans and N log records reach a loopback OTLP receiver', async () => {
  const receiver = await startOtlpReceiver();
  const dir = mkdtempSync(join(tmpdir(), 'otlp-events-'));
  try {
    const file = join(dir, 'events.yaml');
    writeFileSync(file, config(receiver.endpoint));
    const agent = await startAgent([file]);
    try {
      const t0 = BigInt(Date.now()) * 1_000_000n;
      const py = spawnSync(
        '/usr/bin/python3',
        [
          '-c',
          `import os\nfor _ in range(${N}):\n    try: os.getpgid(${MARKER})\n    except OSError: pass\n`,
        ],
        { encoding: 'utf8', timeout: 30_000 },
      );
      assert.equal(py.status, 0, py.stderr);
      const t1 = BigInt(Date.now() + 1) * 1_000_000n;

      const allSpans = () => receiver.traceCalls.flatMap(spansOf);
      const allLogs = () => receiver.logCalls.flatMap(logRecordsOf);
      await until(() => allSpans().length >= N && allLogs().length >= N, `${N} spans and ${N} log records`);

      const spans = allSpans();
      assert.equal(spans.length, N);
      spans.forEach(({ span, resource, scope }, i) => {
        const seqHex = i.toString(16).padStart(2, '0');
        assert.equal(span.traceId, `ab${'0'.repeat(28)}${seqHex}`, `span ${i}: trace id bytes`);
        const id = Buffer.alloc(8);
        id.writeBigUInt64LE(BigInt(0x2000 + i));
        assert.equal(span.spanId, id.toString('hex'));
        if (i === 0)
          assert.equal(span.parentSpanId, undefined, 'the first span is a root: no parent_span_id');
        else assert.equal(span.parentSpanId, '1111000000000000');
        assert.equal(span.name, 'getpgid');
        const start = BigInt(span.startTimeUnixNano);
        const end = BigInt(span.endTimeUnixNano);
        assert.equal(end - start, 1_000_000n, 'span_duration_ns');
        assert.ok(end >= t0 - 50_000_000n && end <= t1 + 50_000_000n, `span ${i} ends in the trigger window`);
        assert.deepEqual(typedAttributes(span.attributes), {
          seq: { s: String(i) },
          'ebpf_exporter.config': { s: 'events_test' },
        });
        assert.deepEqual(resource['k8s.cluster.name'], { s: 'e2e' });
        assert.deepEqual(resource['service.name'], { s: 'ebpf-collector' });
        assert.equal(scope, 'ebpf-collector');
      });

      const logs = allLogs();
      assert.equal(logs.length, N);
      logs.forEach(({ record, resource }, i) => {
        assert.equal(record.eventName, 'getpgid');
        assert.equal(record.severityNumber, 9);
        assert.deepEqual(record.body, { stringValue: `python3 #${i} value=${i * 1000}` });
        const attrs = typedAttributes(record.attributes);
        assert.deepEqual(attrs['seq'], { s: String(i) });
        assert.deepEqual(attrs['comm'], { s: 'python3' });
        assert.deepEqual(attrs['value'], { i: String(i * 1000) }, 'a numeric field is an int attribute');
        const time = BigInt(record.timeUnixNano);
        assert.ok(
          time >= t0 - 50_000_000n && time <= t1 + 50_000_000n,
          `log ${i} time in the trigger window`,
        );
        assert.ok(BigInt(record.observedTimeUnixNano) >= time, 'observed after it happened');
        assert.deepEqual(resource['k8s.cluster.name'], { s: 'e2e' });
      });
      const pids = new Set(
        logs.map(({ record }) => JSON.stringify(typedAttributes(record.attributes)['pid'])),
      );
      assert.equal(pids.size, 1, 'one python3 process made every call');

      // The receiver records a call before its answer reaches the agent: scrape until the answers are counted.
      let scrape = await httpGet(agent.port, '/metrics');
      const one = (name: string, labels: Record<string, string>): number | undefined =>
        samples(scrape.body, name).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
          ?.value;
      const deadline = Date.now() + 10_000;
      while (
        (one('ebpf_collector_exporter_sent_spans_total', { exporter: 'otlp' }) ?? 0) < N ||
        (one('ebpf_collector_exporter_sent_log_records_total', { exporter: 'otlp' }) ?? 0) < N
      ) {
        if (Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 50));
        scrape = await httpGet(agent.port, '/metrics');
      }
      assert.equal(one('ebpf_collector_exporter_sent_spans_total', { exporter: 'otlp' }), N, scrape.body);
      assert.equal(one('ebpf_collector_exporter_sent_log_records_total', { exporter: 'otlp' }), N);
      assert.equal(
        one('ebpf_collector_exporter_dropped_spans_total', { exporter: 'otlp', reason: 'queue_full' }),
        0,
      );
    } finally {
      assert.equal(await agent.stop(), 0, agent.logs.join('\n'));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await receiver.close();
  }
});
