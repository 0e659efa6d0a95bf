import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstValueFrom, from, lastValueFrom, toArray, throwError, EMPTY } from 'rxjs';
import type { LabelSlot, MetricBatch, RawFamily } from '../../pipeline/data.ts';
import { rawColumnsFamily, type RawColumns } from '../../pipeline/series.ts';
import { configSchema } from './config.ts';
import { containerProcessorFactory } from './factory.ts';
import { addContainerLabels } from './operator.ts';

const ID = '0123456789abcdef'.repeat(4);
const UID = '3f2c7a1e-5b6d-4c8e-9f0a-1b2c3d4e5f60';
const POD = `/sys/fs/cgroup/unified/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replaceAll('-', '_')}.slice`;
const CONTAINER = `${POD}/cri-containerd-${ID}.scope`;
const names = {
  containerId: 'container_id',
  containerRuntime: 'container_runtime',
  podUid: 'k8s_pod_uid',
  podQos: 'k8s_pod_qos',
};

const slot = (name: string, value: string, pending: string[] = []): LabelSlot => ({
  name,
  value,
  pending: pending.map((n) => ({ name: n })),
});

function batch(families: RawFamily[]): MetricBatch {
  return { source: 'ebpf/x', config: 'x', timeMs: 1, families };
}

function family(points: LabelSlot[][]): RawFamily {
  return {
    name: 'f',
    help: 'h',
    kind: 'counter',
    startTimeMs: 0,
    points: points.map((labels, i) => ({ labels, value: i + 1 })),
  };
}

const plain = (labels: readonly LabelSlot[]): Record<string, string> =>
  Object.fromEntries(labels.map((l) => [l.name, String(l.value)]));

/** The labels of a point whose cgroup label is CONTAINER (with an `op: read` label before). */
const LABELLED = {
  cgroup: CONTAINER,
  op: 'read',
  container_id: ID,
  container_runtime: 'containerd',
  k8s_pod_uid: UID,
  k8s_pod_qos: 'burstable',
};

test('container: adds the labels the path names, after the existing ones', async () => {
  const b = batch([
    family([
      [slot('cgroup', CONTAINER), slot('op', 'read')],
      [slot('cgroup', POD)],
      [slot('cgroup', '/sys/fs/cgroup/unified/system.slice/ssh.service')],
      [slot('op', 'write')],
    ]),
  ]);
  const [out] = await lastValueFrom(from([b]).pipe(addContainerLabels('cgroup', names), toArray()));
  const points = (out as MetricBatch).families[0]?.points ?? [];
  assert.deepEqual(plain(points[0]?.labels ?? []), LABELLED);
  assert.deepEqual(plain(points[1]?.labels ?? []), {
    cgroup: POD,
    k8s_pod_uid: UID,
    k8s_pod_qos: 'burstable',
  });
  assert.equal(points[2], b.families[0]?.points[2], 'no container: the same point');
  assert.equal(points[3], b.families[0]?.points[3], 'no cgroup label: the same point');
  assert.deepEqual(
    points.map((p) => p.value),
    [1, 2, 3, 4],
  );
});

test('container: a cgroup label still pending passes untouched; nothing to do returns the same batch', async () => {
  const b = batch([family([[slot('cgroup', '123', ['cgroup'])], [slot('cgroup', 'unknown_cgroup_id:5')]])]);
  const out = await firstValueFrom(from([b]).pipe(addContainerLabels('cgroup', names)));
  assert.equal(out, b);
});

test('container: configured names; an existing label of the same name is replaced in place', async () => {
  const cfg = configSchema.parse({ from: 'cg', labels: { container_id: 'cid', k8s_pod_qos: 'qos' } });
  assert.deepEqual(cfg.labels, {
    container_id: 'cid',
    container_runtime: 'container_runtime',
    k8s_pod_uid: 'k8s_pod_uid',
    k8s_pod_qos: 'qos',
  });
  const proc = await containerProcessorFactory.create(
    { id: 'container', logger: undefined as never, configDir: '.' },
    cfg,
  );
  const b = batch([family([[slot('cid', 'old'), slot('cg', CONTAINER)]])]);
  const out = await firstValueFrom(from([b]).pipe(proc.operator));
  assert.deepEqual(
    out.families[0]?.points[0]?.labels.map((l) => l.name),
    ['cid', 'cg', 'container_runtime', 'k8s_pod_uid', 'qos'],
  );
  assert.equal(out.families[0]?.points[0]?.labels[0]?.value, ID);
  await proc.shutdown();
  await proc.shutdown();
});

test('container: empty, upstream error and many batches', async () => {
  assert.deepEqual(await lastValueFrom(EMPTY.pipe(addContainerLabels('cgroup', names), toArray())), []);
  await assert.rejects(
    lastValueFrom(throwError(() => new Error('boom')).pipe(addContainerLabels('cgroup', names))),
    /boom/,
  );
  const many = Array.from({ length: 5 }, () => batch([family([[slot('cgroup', CONTAINER)]])]));
  const outs = await lastValueFrom(from(many).pipe(addContainerLabels('cgroup', names), toArray()));
  assert.equal(outs.length, 5);
  for (const o of outs) assert.equal(o.families[0]?.points[0]?.labels.length, 5);
});

test('container: config is strict and checks label names', () => {
  assert.deepEqual(configSchema.parse({}), {
    from: 'cgroup',
    labels: {
      container_id: 'container_id',
      container_runtime: 'container_runtime',
      k8s_pod_uid: 'k8s_pod_uid',
      k8s_pod_qos: 'k8s_pod_qos',
    },
  });
  assert.equal(configSchema.safeParse({ form: 'cgroup' }).success, false);
  assert.equal(configSchema.safeParse({ labels: { pod: 'x' } }).success, false);
  assert.equal(configSchema.safeParse({ labels: { container_id: 'container.id' } }).success, false);
  assert.equal(configSchema.safeParse({ from: '1abc' }).success, false);
});

test('container, series tables: labelled once per row and table, equal to the points path, values and deltas passed on', async () => {
  const other = CONTAINER.replace(ID, 'f'.repeat(64));
  const rows = [
    [slot('cgroup', CONTAINER), slot('op', 'read')],
    [slot('cgroup', '/sys/fs/cgroup/unified/system.slice/ssh.service')],
    [slot('cgroup', other, ['cgroup'])],
    [slot('op', 'write')],
  ];
  const op = addContainerLabels('cgroup', names);
  const table = (
    rs: LabelSlot[][],
    values: Float64Array,
    added: number[] = [],
    removed: LabelSlot[][] = [],
  ) =>
    rawColumnsFamily(
      { name: 'f', help: 'h', kind: 'counter', histogram: undefined, startTimeMs: 0 },
      { rows: rs, values, added, removed },
    );
  const run = async (f: RawFamily): Promise<RawFamily> => {
    const [out] = (await firstValueFrom(from([batch([f])]).pipe(op))).families;
    const [viaPoints] = (await firstValueFrom(from([batch([{ ...f, points: [...f.points] }])]).pipe(op)))
      .families;
    assert.deepEqual(out?.points, viaPoints?.points, 'the points path gives the same');
    assert.ok(out?.columns, 'a table in, a table out');
    return out;
  };
  const first = await run(table(rows, Float64Array.of(1, 2, 3, 4), [0, 1, 2, 3]));
  const c1 = first.columns as RawColumns;
  assert.deepEqual(plain(c1.rows[0] as LabelSlot[]), LABELLED);
  for (const i of [1, 2, 3]) assert.equal(c1.rows[i], rows[i], `row ${i} untouched`);
  assert.deepEqual(c1.added, [0, 1, 2, 3]);
  const values = Float64Array.of(5, 6, 7, 8);
  const second = (await run(table(rows, values))).columns as RawColumns;
  assert.equal(second.rows, c1.rows, 'the same output table');
  assert.equal(second.values, values, 'values passed on');
  // The labelled row gone: its removal names the labelled row; the rest pass as they are.
  const gone = await run(table(rows.slice(1), Float64Array.of(1, 2, 3), [], [rows[0] as LabelSlot[]]));
  const c3 = gone.columns as RawColumns;
  assert.deepEqual(c3.removed, [c1.rows[0]]);
  assert.equal(c3.rows[0], rows[1]);
  // A table with nothing to label and nothing labelled gone: passed on as it is.
  const untouched = table(rows.slice(1, 3), Float64Array.of(1, 2));
  const [same] = (await firstValueFrom(from([batch([untouched])]).pipe(op))).families;
  assert.equal(same, untouched);
});
