import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { firstValueFrom, from } from 'rxjs';
import type { Host } from '../../pipeline/component.ts';
import type { LabelSlot, MetricBatch } from '../../pipeline/data.ts';
import { rawColumnsFamily, type RawColumns } from '../../pipeline/series.ts';
import { SelfTelemetry } from '../../pipeline/telemetry.ts';
import { configSchema } from './config.ts';
import { cgroupProcessorFactory } from './factory.ts';
import { processorDecoders } from '../../decoders/index.ts';
import type { CgroupProcessor } from './processor.ts';

const logger = pino({ level: 'silent' });

function host(): Host {
  return { logger, telemetry: new SelfTelemetry(), pull: async () => {}, ready: () => true };
}

const slot = (value: string, pending: LabelSlot['pending']): LabelSlot => ({
  name: 'cgroup',
  value,
  pending,
});

function batch(slots: LabelSlot[]): MetricBatch {
  return {
    source: 'ebpf/x',
    config: 'x',
    timeMs: 1,
    families: [
      {
        name: 'f',
        help: 'h',
        kind: 'counter',
        startTimeMs: 0,
        points: slots.map((s, i) => ({ labels: [s], value: i })),
      },
    ],
  };
}

test('cgroup processor: supplies `cgroup`, runs the decoders after it, drops and counts bad keys', async () => {
  const base = mkdtempSync(join(tmpdir(), 'cgp-'));
  const cg = join(base, 'kubepods.slice', 'x.scope');
  mkdirSync(cg, { recursive: true });
  const id = statSync(cg, { bigint: true }).ino.toString();
  const config = configSchema.parse({ cgroup_root: base, watch: false });
  const proc = (await cgroupProcessorFactory.create(
    { id: 'cgroup', logger, configDir: '.' },
    config,
  )) as CgroupProcessor;
  assert.equal(processorDecoders.get('cgroup'), cgroupProcessorFactory.type);
  const h = host();
  try {
    await proc.start(h);
    assert.equal(proc.table?.mode, 'rescan');
    const b = batch([
      slot(id, [{ name: 'cgroup' }]),
      slot(id, [{ name: 'cgroup' }, { name: 'regexp', regexps: ['kubepods\\.slice/(.*)'] }]),
      slot(id, [{ name: 'cgroup' }, { name: 'regexp', regexps: ['^nomatch$'] }]),
      slot('999999999999', [{ name: 'cgroup' }]),
      slot('abc', [{ name: 'cgroup' }]),
      slot('7', [{ name: 'ksym' }]),
      slot('done', []),
    ]);
    const out = await firstValueFrom(from([b]).pipe(proc.operator));
    const points = out.families[0]?.points ?? [];
    assert.deepEqual(
      points.map((p) => [p.labels[0]?.value, p.labels[0]?.pending.length, p.value]),
      [
        [cg, 0, 0],
        ['x.scope', 0, 1],
        ['unknown_cgroup_id:999999999999', 0, 3],
        ['7', 1, 5], // another processor's decoder: left pending
        ['done', 0, 6],
      ],
      'no-match regexp drops its key; a bad id is dropped and counted',
    );
    const errors = h.telemetry.snapshot().find((f) => f.name === 'decoder_errors_total');
    assert.deepEqual(
      errors?.points.map((p) => [p.labels, 'value' in p ? p.value : undefined]),
      [[{ config: 'x' }, 1]],
    );
    assert.deepEqual(proc.describe(), { cgroupRoot: base, cgroupWatch: 'rescan' });
  } finally {
    await proc.shutdown();
    await proc.shutdown();
    rmSync(base, { recursive: true, force: true });
  }
});

test('cgroup processor: processors with the same settings share one table; the last shutdown stops it', async () => {
  const base = mkdtempSync(join(tmpdir(), 'cgp-'));
  const config = configSchema.parse({ cgroup_root: base });
  const a = (await cgroupProcessorFactory.create(
    { id: 'cgroup', logger, configDir: '.' },
    config,
  )) as CgroupProcessor;
  const b = (await cgroupProcessorFactory.create(
    { id: 'cgroup/2', logger, configDir: '.' },
    config,
  )) as CgroupProcessor;
  try {
    await a.start(host());
    await b.start(host());
    assert.ok(a.table);
    assert.equal(a.table, b.table);
    assert.equal(a.table.mode, 'inotify');
    const t = a.table;
    await a.shutdown();
    assert.equal(t.mode, 'inotify', 'still used by b');
    await b.shutdown();
    assert.equal(t.mode, 'stopped');
  } finally {
    await a.shutdown();
    await b.shutdown();
    rmSync(base, { recursive: true, force: true });
  }
});

test('cgroup processor: shutdown before start is safe; a missing root fails start', async () => {
  const proc = await cgroupProcessorFactory.create(
    { id: 'cgroup', logger, configDir: '.' },
    configSchema.parse({ cgroup_root: '/nonexistent/cgroup2' }),
  );
  await proc.shutdown();
  await assert.rejects(
    proc.start(host()),
    /processor cgroup: read cgroup root \/nonexistent\/cgroup2: ENOENT/,
  );
  await proc.shutdown();
});

test('cgroup processor: config defaults and strictness', () => {
  assert.deepEqual(configSchema.parse({}), {
    deleted_grace: 300_000,
    rescan_interval: 5_000,
    max_watches: 16_384,
    max_deleted: 65_536,
    watch: true,
    hierarchies: ['unified'],
  });
  assert.deepEqual(configSchema.parse({ hierarchies: ['unified', 'pids', 'name=systemd'] }).hierarchies, [
    'unified',
    'pids',
    'name=systemd',
  ]);
  assert.equal(configSchema.safeParse({ hierarchies: [] }).success, false, 'empty');
  assert.equal(configSchema.safeParse({ hierarchies: ['pids', 'pids'] }).success, false, 'repeated');
  assert.equal(configSchema.safeParse({ hierarchies: ['../x'] }).success, false, 'not a controller name');
  assert.equal(configSchema.parse({ deleted_grace: '10m' }).deleted_grace, 600_000);
  assert.equal(configSchema.safeParse({ deleted_grace: 300 }).success, false, 'a bare number is ambiguous');
  assert.equal(configSchema.safeParse({ deleted_gracee: '1m' }).success, false, 'unknown key');
  assert.equal(configSchema.safeParse({ max_watches: -1 }).success, false);
});

test('cgroup processor: a v1 controller with no hierarchy is skipped with a warning; cgroup_root still serves unified', async () => {
  const base = mkdtempSync(join(tmpdir(), 'cgp-'));
  const warnings: unknown[] = [];
  const warnLogger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line)) });
  const proc = (await cgroupProcessorFactory.create(
    { id: 'cgroup', logger: warnLogger, configDir: '.' },
    configSchema.parse({ cgroup_root: base, hierarchies: ['unified', 'no_such_controller'], watch: false }),
  )) as CgroupProcessor;
  try {
    await proc.start(host());
    assert.deepEqual(
      proc.tables.map((t) => t.root),
      [base],
    );
    assert.deepEqual(proc.describe(), { cgroupRoot: base, cgroupWatch: 'rescan' });
    assert.ok(
      warnings.some((w) => (w as { controller?: string }).controller === 'no_such_controller'),
      JSON.stringify(warnings),
    );
  } finally {
    await proc.shutdown();
    rmSync(base, { recursive: true, force: true });
  }
});

test('cgroup processor, series tables: decoded once; a removed, expired or renamed cgroup marks exactly its rows', async () => {
  const base = mkdtempSync(join(tmpdir(), 'cgp-'));
  const [a, b] = [join(base, 'a'), join(base, 'b')];
  mkdirSync(a);
  mkdirSync(b);
  const idOf = (p: string): string => statSync(p, { bigint: true }).ino.toString();
  const [idA, idB] = [idOf(a), idOf(b)];
  const config = configSchema.parse({ cgroup_root: base, watch: false, deleted_grace: '2s' });
  const proc = (await cgroupProcessorFactory.create(
    { id: 'cgroup', logger, configDir: '.' },
    config,
  )) as CgroupProcessor;
  const rows = [idA, idB, '0', '999999999999'].map((id) => [slot(id, [{ name: 'cgroup' }])]);
  const run = async (values: number[]): Promise<RawColumns> => {
    const family = rawColumnsFamily(
      { name: 'f', help: 'h', kind: 'counter', histogram: undefined, startTimeMs: 0 },
      { rows, values: Float64Array.from(values), added: [], removed: [] },
    );
    const input = { ...batch([]), families: [family] };
    const out = await firstValueFrom(from([input]).pipe(proc.operator));
    const c = out.families[0]?.columns;
    assert.ok(c, 'a table in, a table out');
    // The same data as points gives the same labels and values.
    const plain = { ...input, families: [{ ...family, points: [...family.points] }] };
    const viaPoints = await firstValueFrom(from([plain]).pipe(proc.operator));
    assert.deepEqual(
      viaPoints.families[0]?.points.map((p) => [p.labels, p.value]),
      out.families[0]?.points.map((p) => [p.labels, p.value]),
    );
    return c;
  };
  const paths = (c: RawColumns): unknown[] => c.rows.map((r) => r[0]?.value);
  try {
    await proc.start(host());
    const t = proc.table;
    assert.ok(t);
    const first = await run([1, 2, 3, 4]);
    assert.deepEqual(paths(first), [a, b, 'unknown_cgroup_id:0', 'unknown_cgroup_id:999999999999']);
    const decoded = proc.memo.decoded;
    const values = [5, 6, 7, 8];
    const second = await run(values);
    assert.equal(second.rows, first.rows, 'the same output table');
    assert.equal(proc.memo.decoded, decoded, 'nothing decoded again');
    // a removed: its row is derived again, to its last path (the grace): nothing new downstream.
    rmdirSync(a);
    t.rescan();
    const removed = await run(values);
    assert.equal(proc.memo.decoded, decoded + 1, 'only the row of a');
    assert.equal(removed.rows, first.rows, 'the same path: the same table');
    // a's grace runs out: its row becomes unknown, the others stay the same objects.
    await new Promise((r) => setTimeout(r, 2_100));
    t.rescan();
    const expired = await run(values);
    assert.equal(proc.memo.decoded, decoded + 2);
    assert.deepEqual(paths(expired), [
      `unknown_cgroup_id:${idA}`,
      b,
      'unknown_cgroup_id:0',
      'unknown_cgroup_id:999999999999',
    ]);
    assert.notEqual(expired.rows, first.rows);
    assert.deepEqual(expired.added, [0]);
    assert.deepEqual(expired.removed, [first.rows[0]]);
    for (const i of [1, 2, 3]) assert.equal(expired.rows[i], first.rows[i], `row ${i} kept`);
    // b renamed: its row takes the new path.
    renameSync(b, join(base, 'b2'));
    t.rescan();
    const renamed = await run(values);
    assert.equal(proc.memo.decoded, decoded + 3);
    assert.equal(paths(renamed)[1], join(base, 'b2'));
    assert.deepEqual(renamed.added, [1]);
    assert.equal((await run(values)).rows, renamed.rows, 'kept again');
  } finally {
    await proc.shutdown();
    rmSync(base, { recursive: true, force: true });
  }
});
