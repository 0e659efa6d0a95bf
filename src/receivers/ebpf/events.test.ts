import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HistogramSpec } from '../../pipeline/data.ts';
import { bucketBounds } from '../../pipeline/assemble.ts';
import { configSchema } from './config.ts';
import { bucketOf, checkEventLayout, checkRingSizes, eventMapsOf, RecordQueue } from './events.ts';
import { exporterFileSchema } from './file-schema.ts';
import type { MapInfo } from '../../native/index.ts';

const rec = (n: number, size = 16): Buffer => Buffer.alloc(size, n & 0xff);

test('RecordQueue: FIFO copies, bounded; drop_newest keeps the first ones, drop_oldest the last ones', () => {
  const newest = new RecordQueue(3, false);
  const oldest = new RecordQueue(3, true);
  for (let i = 0; i < 5; i++) {
    const r = rec(i);
    newest.push(r);
    oldest.push(r);
    r.fill(0xee); // the queue holds copies
  }
  assert.equal(newest.length, 3);
  assert.equal(newest.dropped, 2);
  assert.equal(oldest.dropped, 2);
  assert.deepEqual(
    [0, 1, 2].map(() => newest.shift()?.[0]),
    [0, 1, 2],
  );
  assert.deepEqual(
    [0, 1, 2].map(() => oldest.shift()?.[0]),
    [2, 3, 4],
  );
  assert.equal(newest.shift(), undefined);
  assert.equal(oldest.length, 0);
});

test('RecordQueue: many records across chunks, variable sizes, interleaved push and shift', () => {
  const q = new RecordQueue(100_000, false);
  let next = 0;
  for (let i = 0; i < 30_000; i++) q.push(rec(i, 8 + (i % 40)));
  for (let i = 0; i < 10_000; i++) {
    const r = q.shift() as Buffer;
    assert.equal(r.length, 8 + (next % 40));
    assert.equal(r[0], next & 0xff);
    next++;
  }
  for (let i = 30_000; i < 40_000; i++) q.push(rec(i, 8 + (i % 40)));
  while (q.length > 0) {
    const r = q.shift() as Buffer;
    assert.equal(r.length, 8 + (next % 40));
    assert.equal(r[0], next & 0xff);
    next++;
  }
  assert.equal(next, 40_000);
  assert.equal(q.dropped, 0);
});

test('bucketOf: the smallest bucket whose bound (before the multiplier) holds the value, clamped', () => {
  const exp2: HistogramSpec = {
    bucketType: 'exp2',
    bucketMin: 0,
    bucketMax: 10,
    bucketMultiplier: 1e-6,
    bucketKeys: [],
  };
  const { bounds } = bucketBounds(exp2);
  const values = [0, 1, 2, 3, 4, 5, 1000, 1024, 1025, 5000];
  assert.deepEqual(
    values.map((v) => bucketOf(exp2, v)),
    [0, 0, 1, 2, 2, 3, 10, 10, 10, 10],
  );
  // …which is where the exporter's bounds put the scaled value (1025 and 5000 clamp into the top bucket)
  for (const v of values.slice(0, 8))
    assert.ok(v * 1e-6 <= (bounds[bucketOf(exp2, v)] as number) * (1 + 1e-12));
  const zero: HistogramSpec = { ...exp2, bucketType: 'exp2zero', bucketMultiplier: 1 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((v) => bucketOf(zero, v)),
    [0, 1, 2, 3, 3, 4],
  );
  const linear: HistogramSpec = { ...exp2, bucketType: 'linear', bucketMin: 1, bucketMultiplier: 50 };
  assert.deepEqual(
    [0, 1, 1.5, 7, 99].map((v) => bucketOf(linear, v)),
    [1, 1, 2, 7, 10],
  );
  const fixed: HistogramSpec = { ...exp2, bucketType: 'fixed', bucketKeys: [10, 100, 1000] };
  assert.deepEqual(
    [0, 10, 11, 999, 5000].map((v) => bucketOf(fixed, v)),
    [10, 10, 100, 1000, 1000],
  );
});

const map = (name: string, type: string): MapInfo => ({
  name,
  type,
  keySize: 4,
  valueSize: 4,
  maxEntries: 0,
  perCpu: false,
  numCpus: 1,
  valueStride: 4,
});

test('event definitions: maps read, and problems binding them to the object', () => {
  const file = exporterFileSchema.parse({
    metrics: {
      counters: [
        { name: 'oom_kills_total', help: 'h', perf_event_array: true, hooks: ['kprobe'] },
        { name: 'victims_total', help: 'h', events: 'oom_kills_total', hooks: ['tp_btf'] },
        { name: 'exec_total', help: 'h', events: 'events' },
      ],
      histograms: [
        {
          name: 'lat',
          help: 'h',
          events: 'events',
          value: { offset: 0, size: 8 },
          bucket_type: 'exp2',
          bucket_min: 0,
          bucket_max: 3,
        },
      ],
    },
    tracing: {
      spans: [{ ringbuf: 'spans', labels: [{ name: 'trace_id', size: 16, decoders: [{ name: 'hex' }] }] }],
    },
    logs: [{ name: 'exec', map: 'events', time_field: 'nope' }],
  });
  const defs = { metrics: file.metrics ?? {}, spans: file.tracing?.spans ?? [], logs: file.logs ?? [] };
  assert.deepEqual(eventMapsOf(defs, 'tp_btf').sort(), ['events', 'oom_kills_total', 'spans']);
  const maps = new Map([
    ['oom_kills_total', map('oom_kills_total', 'perf_event_array')],
    ['events', map('events', 'hash')],
  ]);
  assert.deepEqual(checkEventLayout(defs, maps, 'kprobe'), [
    'metric exec_total: map events is a hash, expected ringbuf or perf_event_array',
    'metric lat: map events is a hash, expected ringbuf or perf_event_array',
    'span spans: the object has no map named "spans"',
    'span spans: needs a span_id label',
    'span spans: needs a span_monotonic_timestamp_ns label',
    'span spans: needs a span_duration_ns label',
    'log exec: map events is a hash, expected ringbuf or perf_event_array',
    'log exec: time_field nope is not one of its fields',
  ]);
});

test('ring sizes: a ring the agent drains may have at most 256 MiB; other maps are not its business', () => {
  const file = exporterFileSchema.parse({
    metrics: { counters: [{ name: 'exec_total', help: 'h', events: 'events' }] },
    logs: [{ name: 'exec', map: 'big' }],
  });
  const defs = { metrics: file.metrics ?? {}, spans: [], logs: file.logs ?? [] };
  const ring = (name: string, bytes: number): MapInfo => ({ ...map(name, 'ringbuf'), maxEntries: bytes });
  const fits = new Map([
    ['events', ring('events', 256 * 2 ** 20)],
    ['big', ring('big', 2 ** 20)],
    ['unread', ring('unread', 2 ** 30)],
  ]);
  assert.deepEqual(checkRingSizes(defs, fits), []);
  assert.deepEqual(checkRingSizes(defs, new Map([['big', ring('big', 2 ** 30)]])), [
    'ring buffer big: max_entries 1073741824 bytes; a ring the agent drains may have at most 268435456 (256 MiB)',
  ]);
});

test('schema: events counters and histograms, and what they reject', () => {
  const bad = exporterFileSchema.safeParse({
    metrics: {
      counters: [
        { name: 'a', help: 'h', events: 'm', perf_event_array: true },
        { name: 'b', help: 'h', flush_interval: '1m' },
      ],
      histograms: [
        { name: 'c', help: 'h', events: 'm', bucket_type: 'exp2', bucket_min: 0, bucket_max: 1 },
        {
          name: 'd',
          help: 'h',
          value: { offset: 0, size: 8 },
          bucket_type: 'exp2',
          bucket_min: 0,
          bucket_max: 1,
          labels: [{ name: 'bucket', size: 8, decoders: [{ name: 'uint' }] }],
        },
      ],
    },
  });
  assert.equal(bad.success, false);
  const messages = bad.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  assert.deepEqual(messages, [
    'metrics.counters.0.events: events names the event map itself: drop perf_event_array and map (perf_event_array counters read the map of their name)',
    'metrics.counters.1.flush_interval: flush_interval applies only to event counters (perf_event_array: true or events:); remove it',
    'metrics.histograms.0: a histogram over events needs value: { offset, size } (the field to bucket)',
    'metrics.histograms.1.value: value applies only to histograms over events (events: <map>)',
  ]);
});

test('receiver config: events defaults, and perf_buffer_pages must be a power of two', () => {
  const c = configSchema.parse({ program: 'execsnoop' });
  assert.deepEqual(c.events, {
    queue_size: 65_536,
    overflow: 'drop_newest',
    batch_size: 4096,
    drain_interval: 50,
    perf_buffer_pages: 64,
  });
  assert.equal(configSchema.safeParse({ program: 'x', events: { perf_buffer_pages: 3 } }).success, false);
  assert.equal(configSchema.safeParse({ program: 'x', events: { overflow: 'block' } }).success, false);
});
