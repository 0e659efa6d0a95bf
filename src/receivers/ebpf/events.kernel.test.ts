import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { LogRecordData, MetricBatch, MetricFamily, SpanRecord } from '../../pipeline/data.ts';
import { SelfTelemetry } from '../../pipeline/telemetry.ts';
import { syscallGetpgid } from '../../native/index.ts';
import { ebpfReceiverFactory } from './factory.ts';
import { configSchema } from './config.ts';
import type { EbpfReceiver } from './receiver.ts';
import { testHost } from '../../../test/helpers/host.ts';
import { collectOnce } from '../../../test/helpers/program-run.ts';

/*
 * Event streams on the real kernel: test/bpf/events_test.bpf.o emits one
 * record per getpgid(MARKER) of this process (the addon's syscallGetpgid makes
 * exactly n such calls from this thread; Node never calls getpgid itself).
 */

const root = join(import.meta.dirname, '..', '..', '..');
const OBJ = join(root, 'build', 'bpf', 'events_test.bpf.o');
const MARKER = 0x3fffffe7;
const logger = pino({ level: 'silent' });
const comm = readFileSync('/proc/self/comm', 'utf8').trim();

const recordLabels = [
  { name: 'pid', size: 4, decoders: [{ name: 'uint' }] },
  { name: 'seq', size: 4, decoders: [{ name: 'uint' }] },
  { name: 'comm', size: 16, decoders: [{ name: 'string' }] },
];
const recordFields = [
  { name: 'value', offset: 24, size: 8 },
  { name: 'ts', offset: 32, size: 8 },
];

async function receiver(raw: Record<string, unknown>): Promise<EbpfReceiver> {
  const parsed = configSchema.parse({ program: OBJ, poll_interval: '1h', ...raw });
  return (await ebpfReceiverFactory.create(
    { id: 'ebpf/events', logger, configDir: root },
    parsed,
  )) as EbpfReceiver;
}

function value(families: MetricFamily[], name: string, labels: Record<string, string>): number | undefined {
  const f = families.find((x) => x.name === name);
  const p = f?.points.find((q) => Object.entries(labels).every(([k, v]) => q.labels[k] === v));
  return p && 'value' in p ? p.value : undefined;
}

test('ring buffer: N records for this pid arrive as N log records, in order, decoded, 0 lost; counted and bucketed', async () => {
  const N = 2000;
  const telemetry = new SelfTelemetry();
  const r = await receiver({
    globals: { targ_tgid: process.pid, targ_marker: MARKER, targ_mode: 1 },
    metrics: {
      counters: [
        {
          name: 'test_records_total',
          help: 'records by pid and comm',
          events: 'events',
          labels: [
            { name: 'pid', size: 4, padding: 4, decoders: [{ name: 'uint' }] },
            { name: 'comm', size: 16, decoders: [{ name: 'string' }] },
          ],
        },
      ],
      histograms: [
        {
          name: 'test_record_value',
          help: 'value field',
          events: 'events',
          value: { offset: 24, size: 8 },
          bucket_type: 'exp2',
          bucket_min: 0,
          bucket_max: 24,
        },
      ],
    },
    logs: [
      {
        name: 'test',
        map: 'events',
        body: '{comm} #{seq} value={value}',
        labels: recordLabels,
        fields: recordFields,
        time_field: 'ts',
      },
    ],
  });
  const logs: LogRecordData[] = [];
  assert.ok(r.logs$);
  r.logs$.subscribe((b) => logs.push(...b.records));
  await r.start(testHost({ telemetry }));
  try {
    const t0 = BigInt(Date.now()) * 1_000_000n;
    syscallGetpgid(N, MARKER);
    const t1 = BigInt(Date.now() + 1) * 1_000_000n;
    r.events?.flush();
    assert.equal(logs.length, N);
    logs.forEach((l, i) => {
      assert.equal(l.attributes['seq'], String(i), `record ${i} in order`);
      assert.equal(l.attributes['pid'], String(process.pid));
      assert.equal(l.attributes['comm'], comm);
      assert.equal(l.attributes['value'], i * 1000);
      assert.equal(l.eventName, 'test');
      assert.ok(
        l.timeUnixNano >= t0 - 5_000_000n && l.timeUnixNano <= t1 + 5_000_000n,
        'monotonic → wall clock',
      );
    });
    assert.equal(logs[7]?.body, `${comm} #7 value=7000`);
    const stats = r.events?.stats()['events'];
    assert.deepEqual(stats, { received: N, kernelDropped: 0, dropped: 0, queued: 0 });

    const families = await collectOnce(r);
    assert.equal(value(families, 'test_records_total', { pid: String(process.pid), comm }), N);
    const hist = families.find((f) => f.name === 'test_record_value');
    assert.equal(hist?.kind, 'histogram');
    const hp = hist?.points[0];
    assert.ok(hp && 'counts' in hp);
    assert.equal(hp.count, N);
    assert.equal(hp.sum, (1000 * (N - 1) * N) / 2);
    const want = new Array<number>(26).fill(0);
    for (let i = 0; i < N; i++) {
      let k = 0;
      while (2 ** k < i * 1000 && k < 24) k++;
      want[k] = (want[k] ?? 0) + 1;
    }
    assert.deepEqual(hp.counts, want, 'exp2 buckets of 0, 1000, …');
  } finally {
    await r.shutdown();
  }
  const snap = telemetry.snapshot();
  const kd = snap.find((f) => f.name === 'events_kernel_dropped_total')?.points;
  assert.deepEqual(
    kd?.map((p) => [p.labels['map'], p.labels['reason'], 'value' in p ? p.value : NaN]),
    [['events', 'reserve', 0]],
  );
});

test('perf event array, drop-in `perf_event_array: true`: N records counted by labels, all delivered, 0 lost', async () => {
  const N = 1500;
  const telemetry = new SelfTelemetry();
  const r = await receiver({
    globals: { targ_tgid: process.pid, targ_marker: MARKER + 1, targ_mode: 2 },
    metrics: {
      counters: [
        {
          name: 'test_events_total',
          help: 'records by pid and comm (ebpf_exporter drop-in)',
          perf_event_array: true,
          flush_interval: '1h',
          labels: [
            { name: 'pid', size: 4, padding: 4, decoders: [{ name: 'uint' }] },
            { name: 'comm', size: 16, decoders: [{ name: 'string' }] },
          ],
        },
      ],
    },
    logs: [{ name: 'perf', map: 'test_events_total', labels: recordLabels, fields: recordFields }],
  });
  const seqs: number[] = [];
  r.logs$?.subscribe((b) => seqs.push(...b.records.map((l) => Number(l.attributes['seq']))));
  await r.start(testHost({ telemetry }));
  try {
    syscallGetpgid(N, MARKER + 1);
    r.events?.flush();
    // Per-CPU buffers: order holds within a CPU; across CPUs every record is there once.
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      Array.from({ length: N }, (_, i) => i),
    );
    const families = await collectOnce(r);
    assert.equal(value(families, 'test_events_total', { pid: String(process.pid), comm }), N);
    assert.deepEqual(r.events?.stats()['test_events_total'], {
      received: N,
      kernelDropped: 0,
      dropped: 0,
      queued: 0,
    });
    const dropped = telemetry
      .snapshot()
      .find((f) => f.name === 'dropped_perf_event_map_events_test_events_total');
    assert.equal(dropped?.unprefixed, true);
    assert.deepEqual(dropped?.points, [{ labels: {}, value: 0 }]);
  } finally {
    await r.shutdown();
  }
});

test('tracing.spans from a ring buffer: reserved labels become trace/span ids, parent, wall-clock times, name', async () => {
  const N = 5;
  const r = await receiver({
    globals: { targ_tgid: process.pid, targ_marker: MARKER + 2, targ_mode: 4 },
    tracing: {
      spans: [
        {
          ringbuf: 'spans',
          labels: [
            { name: 'trace_id', size: 16, decoders: [{ name: 'hex' }] },
            { name: 'parent_span_id', size: 8, decoders: [{ name: 'hex' }] },
            { name: 'span_id', size: 8, decoders: [{ name: 'hex' }] },
            { name: 'span_monotonic_timestamp_ns', size: 8, decoders: [{ name: 'uint' }] },
            { name: 'span_duration_ns', size: 8, decoders: [{ name: 'uint' }] },
            { name: 'span_name', size: 16, decoders: [{ name: 'string' }] },
            { name: 'seq', size: 4, padding: 4, decoders: [{ name: 'uint' }] },
          ],
        },
      ],
    },
  });
  const spans: SpanRecord[] = [];
  assert.ok(r.spans$);
  assert.equal(r.logs$, undefined);
  r.spans$.subscribe((b) => spans.push(...b.spans));
  await r.start(testHost());
  try {
    const t0 = BigInt(Date.now()) * 1_000_000n;
    syscallGetpgid(N, MARKER + 2);
    const t1 = BigInt(Date.now() + 1) * 1_000_000n;
    r.events?.flush();
    assert.equal(spans.length, N);
    spans.forEach((s, i) => {
      const hex = i.toString(16).padStart(2, '0');
      assert.equal(s.traceId, `ab${'0'.repeat(28)}${hex}`);
      assert.equal(s.parentSpanId, i === 0 ? undefined : '1111000000000000', 'zero parent = root span');
      // hex of the u64's little-endian bytes, as ebpf_exporter's hex decoder gives
      const id = Buffer.alloc(8);
      id.writeBigUInt64LE(BigInt(0x2000 + i));
      assert.equal(s.spanId, id.toString('hex'));
      assert.equal(s.name, 'getpgid');
      assert.equal(s.endTimeUnixNano - s.startTimeUnixNano, 1_000_000n);
      assert.ok(s.endTimeUnixNano >= t0 - 5_000_000n && s.endTimeUnixNano <= t1 + 5_000_000n, 'wall clock');
      assert.deepEqual(s.attributes, { seq: String(i), 'ebpf_exporter.config': 'events_test' });
    });
  } finally {
    await r.shutdown();
  }
});

test('a full ring: reserve failures are counted in <ring>_drops, received + kernel drops = records emitted', async () => {
  const N = 100_000; // 48 bytes a record with its header: a 4 MiB ring holds 87,381
  const telemetry = new SelfTelemetry();
  const r = await receiver({
    globals: { targ_tgid: process.pid, targ_marker: MARKER + 3, targ_mode: 1 },
    events: { drain_interval: '1h', queue_size: 200_000 },
    metrics: {
      counters: [
        {
          name: 'full_records_total',
          help: 'records',
          events: 'events',
          labels: [{ name: 'pid', size: 4, decoders: [{ name: 'uint' }] }],
        },
      ],
    },
  });
  await r.start(testHost({ telemetry }));
  try {
    syscallGetpgid(N, MARKER + 3); // no drain meanwhile: this thread is busy
    r.events?.flush();
    const stats = r.events?.stats()['events'];
    assert.ok(stats);
    assert.ok(stats.kernelDropped > 0, 'the ring overflowed');
    assert.equal(stats.received + stats.kernelDropped, N);
    assert.equal(stats.received, Math.floor((4 * 1024 * 1024) / 48));
    const families = await collectOnce(r);
    assert.equal(value(families, 'full_records_total', { pid: String(process.pid) }), stats.received);
    const kd = telemetry.snapshot().find((f) => f.name === 'events_kernel_dropped_total');
    assert.deepEqual(kd?.points, [
      { labels: { config: 'events_test', map: 'events', reason: 'reserve' }, value: stats.kernelDropped },
    ]);
  } finally {
    await r.shutdown();
  }
});

test('spans that do not decode are counted in decoder_errors_total and skipped', async () => {
  const telemetry = new SelfTelemetry();
  const r = await receiver({
    globals: { targ_tgid: process.pid, targ_marker: MARKER + 4, targ_mode: 4 },
    tracing: {
      spans: [
        {
          ringbuf: 'spans',
          labels: [
            { name: 'trace_id', size: 16, decoders: [{ name: 'string' }] }, // not hex: not a trace id
            { name: 'parent_span_id', size: 8, decoders: [{ name: 'hex' }] },
            { name: 'span_id', size: 8, decoders: [{ name: 'hex' }] },
            { name: 'span_monotonic_timestamp_ns', size: 8, decoders: [{ name: 'uint' }] },
            { name: 'span_duration_ns', size: 8, decoders: [{ name: 'uint' }] },
          ],
        },
      ],
    },
  });
  const spans: SpanRecord[] = [];
  r.spans$?.subscribe((b) => spans.push(...b.spans));
  await r.start(testHost({ telemetry }));
  try {
    syscallGetpgid(3, MARKER + 4);
    r.events?.flush();
    assert.equal(spans.length, 0);
    const errors = telemetry.snapshot().find((f) => f.name === 'decoder_errors_total');
    assert.deepEqual(errors?.points, [{ labels: { config: 'events_test' }, value: 3 }]);
    assert.equal(r.events?.stats()['spans']?.received, 3);
  } finally {
    await r.shutdown();
  }
});

test('perf_event_array counters reset every flush_interval (ebpf_exporter), with a new start time', async () => {
  const r = await receiver({
    globals: { targ_tgid: process.pid, targ_marker: MARKER + 5, targ_mode: 2 },
    metrics: {
      counters: [
        {
          name: 'test_events_total',
          help: 'records',
          perf_event_array: true,
          flush_interval: '400ms',
          labels: [{ name: 'pid', size: 4, decoders: [{ name: 'uint' }] }],
        },
      ],
    },
  });
  await r.start(testHost());
  try {
    const raw = async (): Promise<MetricBatch> => {
      let last: MetricBatch | undefined;
      const sub = r.output$.subscribe((b) => (last = b));
      await r.collectNow();
      sub.unsubscribe();
      return last as MetricBatch;
    };
    syscallGetpgid(4, MARKER + 5);
    r.events?.flush();
    const first = (await raw()).families.find((f) => f.name === 'test_events_total');
    assert.deepEqual(
      first?.points.map((p) => p.value),
      [4],
    );
    await new Promise((res) => setTimeout(res, 450));
    const reset = (await raw()).families.find((f) => f.name === 'test_events_total');
    assert.deepEqual(reset?.points, [], 'every series reset');
    assert.ok((reset?.startTimeMs ?? 0) >= (first?.startTimeMs ?? 0) + 400, 'a new start time');
    syscallGetpgid(2, MARKER + 5);
    r.events?.flush();
    const after = (await raw()).families.find((f) => f.name === 'test_events_total');
    assert.deepEqual(
      after?.points.map((p) => p.value),
      [2],
      JSON.stringify({
        stats: r.events?.stats(),
        start: after?.startTimeMs,
        reset: reset?.startTimeMs,
        now: Date.now(),
      }),
    );
  } finally {
    await r.shutdown();
  }
});
