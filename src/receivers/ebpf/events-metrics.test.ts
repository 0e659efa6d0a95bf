import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RawFamily } from '../../pipeline/data.ts';
import { configSchema } from './config.ts';
import { EventCounter, EventHistogram, OVERFLOW_LABEL } from './events-metrics.ts';
import { counterSchema, histogramSchema } from './metrics.ts';
import type { DecodeStats } from './events-labels.ts';
import { labels, record, registry } from './events-testing.ts';

function series(f: RawFamily): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of f.points) {
    const key = p.labels.map((l) => `${l.name}=${String(l.value)}`).join(',');
    out.set(key, (out.get(key) ?? 0) + p.value);
  }
  return out;
}

test('EventCounter: beyond max_series new label sets go to one otel.metric.overflow series, counted; logged once', () => {
  const logged: [string, number][] = [];
  const c = new EventCounter({ name: 'exec_total', help: 'h', labels }, undefined, false, registry, {
    maxSeries: 3,
    idleExpiryMs: 0,
    onOverflow: (metric, max) => logged.push([metric, max]),
  });
  const stats: DecodeStats = { errors: 0 };
  for (let i = 0; i < 10; i++) c.onRecord(record(`p${i}`), stats);
  for (let i = 0; i < 3; i++) c.onRecord(record(`p${i}`), stats); // admitted ones keep counting
  const s = series(c.family(Date.now()));
  assert.deepEqual(
    [...s],
    [
      ['comm=p0', 2],
      ['comm=p1', 2],
      ['comm=p2', 2],
      [`${OVERFLOW_LABEL}=true`, 7],
    ],
  );
  assert.equal(c.overflowed, 7);
  assert.equal(c.seriesCount, 3);
  assert.deepEqual(logged, [['exec_total', 3]]);
  assert.equal(stats.errors, 0);
});

test('EventHistogram: the overflow series carries its buckets and sum', () => {
  const h = new EventHistogram(
    { name: 'lat', help: 'h', labels, value: { offset: 16, size: 8 } },
    { bucketType: 'linear', bucketMin: 0, bucketMax: 10, bucketMultiplier: 1, bucketKeys: [] },
    registry,
    { maxSeries: 1, idleExpiryMs: 0 },
  );
  const stats: DecodeStats = { errors: 0 };
  h.onRecord(record('a', 2), stats);
  h.onRecord(record('b', 3), stats);
  h.onRecord(record('c', 4), stats);
  const s = series(h.family(Date.now()));
  assert.equal(s.get(`${OVERFLOW_LABEL}=true,bucket=3`), 1);
  assert.equal(s.get(`${OVERFLOW_LABEL}=true,bucket=4`), 1);
  assert.equal(s.get(`${OVERFLOW_LABEL}=true,bucket=11`), 7, 'sum of the folded values');
  assert.equal(s.get('comm=a,bucket=2'), 1);
  assert.equal(h.overflowed, 2);
});

test('EventCounter: series idle past series_idle_expiry are dropped, and the budget is free again', () => {
  const t0 = Date.now();
  const c = new EventCounter({ name: 'exec_total', help: 'h', labels }, undefined, false, registry, {
    maxSeries: 2,
    idleExpiryMs: 4000,
  });
  const stats: DecodeStats = { errors: 0 };
  c.onRecord(record('old'), stats);
  c.onRecord(record('busy'), stats);
  c.onRecord(record('late'), stats); // overflow
  // `busy` keeps receiving records; `old` and the overflow series do not.
  for (let t = 1000; t <= 8000; t += 1000) {
    c.tick(t0 + t);
    c.onRecord(record('busy'), stats);
  }
  assert.equal(c.seriesCount, 1, '`old` dropped within 1.5 × the expiry');
  const s = series(c.family(t0 + 8000));
  assert.deepEqual([...s.keys()], ['comm=busy']);
  c.onRecord(record('new'), stats);
  assert.deepEqual([...series(c.family(t0 + 8000)).keys()], ['comm=busy', 'comm=new']);
  // Not dropped before the expiry: nothing idle for less than 4 s goes.
  c.tick(t0 + 11_000);
  assert.equal(c.seriesCount, 2);
});

test('config: max_series and series_idle_expiry defaults, bounds and positions', () => {
  const c = configSchema.parse({ program: 'execsnoop' });
  assert.equal(c.max_series, 10_000);
  assert.equal(c.series_idle_expiry, 600_000);
  assert.equal(configSchema.parse({ program: 'x', series_idle_expiry: 0 }).series_idle_expiry, 0);
  for (const [key, value] of [
    ['max_series', 0],
    ['max_series', -1],
    ['max_series', 1.5],
    ['max_series', 10_000_000],
    ['series_idle_expiry', '10ms'],
    ['series_idle_expiry', 'soon'],
  ] as const) {
    const r = configSchema.safeParse({ program: 'x', [key]: value });
    assert.equal(r.success, false, `${key}: ${value}`);
    assert.deepEqual(r.error?.issues[0]?.path, [key]);
  }
  const counter = counterSchema.safeParse({ name: 'c', help: 'h', map: 'm', max_series: 5 });
  assert.equal(counter.success, false);
  assert.deepEqual(counter.error?.issues[0]?.path, ['max_series']);
  assert.match(counter.error?.issues[0]?.message ?? '', /bounded by its map/);
  assert.equal(counterSchema.parse({ name: 'c', help: 'h', events: 'ev', max_series: 5 }).max_series, 5);
  const hist = histogramSchema.safeParse({
    name: 'h',
    help: 'h',
    bucket_type: 'exp2',
    labels: [{ name: 'bucket', size: 8, decoders: [{ name: 'uint' }] }],
    max_series: 5,
  });
  assert.equal(hist.success, false);
  assert.deepEqual(hist.error?.issues[0]?.path, ['max_series']);
});
