import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject } from 'rxjs';
import type { MetricBatch, RawFamily } from '../../pipeline/data.ts';
import { k8sAttributes, type PodLookup } from './operator.ts';
import type { PodMatch } from './pod-index.ts';
import { rawColumnsFamily, type RawColumns } from '../../pipeline/series.ts';

function fakeLookup(pods: Record<string, PodMatch>, available = true): PodLookup {
  return {
    available: () => available,
    find: (uid) => (uid === undefined ? undefined : pods[uid]),
    subscribe: () => () => {},
  };
}

const options = { podUidLabel: 'k8s_pod_uid', containerIdLabel: 'container_id', pendingTimeoutMs: 60_000 };

function batchOf(family: RawFamily): MetricBatch {
  return { source: 's', config: 'c', timeMs: 0, families: [family] };
}

function names(b: MetricBatch | undefined, point = 0): string[] {
  return (b?.families[0]?.points[point]?.labels ?? []).map((l) => l.name);
}

test('histogram points get pod labels before the bucket label, which stays last', () => {
  const input = new Subject<MetricBatch>();
  const out: MetricBatch[] = [];
  input
    .pipe(k8sAttributes(fakeLookup({ u1: { pod: [['k8s_pod_name', 'p']] } }), { ...options, maxPending: 10 }))
    .subscribe((b) => out.push(b));
  input.next(
    batchOf({
      name: 'lat',
      help: '',
      kind: 'histogram',
      startTimeMs: 0,
      points: [
        {
          value: 3,
          labels: [
            { name: 'k8s_pod_uid', value: 'u1', pending: [] },
            { name: 'bucket', value: '4', pending: [] },
          ],
        },
      ],
    }),
  );
  assert.deepEqual(names(out[0]), ['k8s_pod_uid', 'k8s_pod_name', 'bucket']);
});

test('labels still pending a decoder are not used; points without pod labels pass untouched', () => {
  const input = new Subject<MetricBatch>();
  const out: MetricBatch[] = [];
  input
    .pipe(k8sAttributes(fakeLookup({ u1: { pod: [['k8s_pod_name', 'p']] } }), { ...options, maxPending: 10 }))
    .subscribe((b) => out.push(b));
  const untouched = { value: 1, labels: [{ name: 'cpu', value: '0', pending: [] }] };
  const undecoded = {
    value: 2,
    labels: [{ name: 'k8s_pod_uid', value: new Uint8Array([1]), pending: [{ name: 'cgroup' }] }],
  };
  input.next(
    batchOf({ name: 'x', help: '', kind: 'counter', startTimeMs: 0, points: [untouched, undecoded] }),
  );
  assert.equal(out[0]?.families[0]?.points[0], untouched);
  assert.equal(out[0]?.families[0]?.points[1], undecoded);
});

test('past max_pending unknown pods pass at once, reported as full', () => {
  const input = new Subject<MetricBatch>();
  const out: MetricBatch[] = [];
  const released: string[] = [];
  input
    .pipe(
      k8sAttributes(fakeLookup({}), {
        ...options,
        maxPending: 1,
        onReleased: (reason, ids) => released.push(...ids.map((id) => `${reason}:${id}`)),
      }),
    )
    .subscribe((b) => out.push(b));
  const point = (uid: string) => ({ value: 1, labels: [{ name: 'k8s_pod_uid', value: uid, pending: [] }] });
  input.next(
    batchOf({ name: 'x', help: '', kind: 'counter', startTimeMs: 0, points: [point('u1'), point('u2')] }),
  );
  assert.equal(out[0]?.families[0]?.points.length, 1, 'u1 held, u2 passes');
  assert.deepEqual(released, ['full:u2']);
  input.complete();
});

test('while the API is unavailable nothing is held, and the batch is reported degraded', () => {
  const input = new Subject<MetricBatch>();
  const out: MetricBatch[] = [];
  const degraded: number[] = [];
  input
    .pipe(
      k8sAttributes(fakeLookup({}, false), {
        ...options,
        maxPending: 10,
        onDegraded: (_s, n) => degraded.push(n),
      }),
    )
    .subscribe((b) => out.push(b));
  input.next(
    batchOf({
      name: 'x',
      help: '',
      kind: 'counter',
      startTimeMs: 0,
      points: [{ value: 1, labels: [{ name: 'container_id', value: 'abc', pending: [] }] }],
    }),
  );
  assert.equal(out[0]?.families[0]?.points.length, 1);
  assert.deepEqual(degraded, [1]);
});

test('a held pod that vanishes from its source’s batches does not keep the timer firing', async () => {
  const input = new Subject<MetricBatch>();
  const out: MetricBatch[] = [];
  input
    .pipe(k8sAttributes(fakeLookup({}), { ...options, pendingTimeoutMs: 50, maxPending: 10 }))
    .subscribe((b) => out.push(b));
  const point = (uid: string) => ({ value: 1, labels: [{ name: 'k8s_pod_uid', value: uid, pending: [] }] });
  const family = (uid: string): RawFamily => ({
    name: 'x',
    help: '',
    kind: 'counter',
    startTimeMs: 0,
    points: [point(uid)],
  });
  input.next(batchOf(family('u1')));
  await new Promise((r) => setTimeout(r, 30));
  input.next(batchOf(family('u2'))); // u1 gone from the source, u2 newly held
  await new Promise((r) => setTimeout(r, 150));
  // u1's deadline passes (nothing to release), u2's releases it: 2 inputs + 1 or 2 re-emissions.
  assert.ok(out.length <= 4, `${out.length} batches emitted`);
  assert.equal(out.at(-1)?.families[0]?.points.length, 1, 'u2 released');
  input.complete();
});

test('series tables: equal to the points path batch after batch; a pod relabelled changes exactly its rows', () => {
  const pods: Record<string, PodMatch> = {
    u1: { pod: [['k8s_pod_name', 'a']] },
    u2: { pod: [['k8s_pod_name', 'b']] },
  };
  const lookup = fakeLookup(pods);
  const slotOf = (name: string, value: string) => ({ name, value, pending: [] });
  const rows = [
    [slotOf('k8s_pod_uid', 'u1'), slotOf('op', 'r')],
    [slotOf('k8s_pod_uid', 'u2')],
    [slotOf('cpu', '0')],
    [slotOf('k8s_pod_uid', 'u3')], // unknown: held
    [slotOf('k8s_pod_uid', 'u1'), slotOf('op', 'w')],
  ];
  const onTables: MetricBatch[] = [];
  const onPoints: MetricBatch[] = [];
  const tablesIn = new Subject<MetricBatch>();
  const pointsIn = new Subject<MetricBatch>();
  tablesIn.pipe(k8sAttributes(lookup, { ...options, maxPending: 10 })).subscribe((b) => onTables.push(b));
  pointsIn.pipe(k8sAttributes(lookup, { ...options, maxPending: 10 })).subscribe((b) => onPoints.push(b));
  const send = (values: number[]): RawColumns => {
    const f = rawColumnsFamily(
      { name: 'm', help: '', kind: 'counter', histogram: undefined, startTimeMs: 0 },
      { rows, values: Float64Array.from(values), added: [], removed: [] },
    );
    tablesIn.next(batchOf(f));
    pointsIn.next(batchOf({ ...f, points: [...f.points] }));
    const t = onTables.at(-1)?.families[0];
    assert.deepEqual(t?.points, onPoints.at(-1)?.families[0]?.points, 'the points path gives the same');
    assert.ok(t?.columns, 'a table in, a table out');
    return t.columns;
  };
  const first = send([1, 2, 3, 4, 5]);
  assert.equal(first.rows.length, 4, 'the unknown pod held');
  assert.deepEqual([...first.values], [1, 2, 3, 5]);
  const second = send([6, 7, 8, 9, 10]);
  assert.equal(second.rows, first.rows, 'nothing changed: the same output table');
  assert.deepEqual([second.added, second.removed], [[], []]);
  pods['u1'] = { pod: [['k8s_pod_name', 'a2']] }; // relabelled
  const third = send([1, 1, 1, 1, 1]);
  assert.notEqual(third.rows, first.rows);
  assert.deepEqual(third.added, [0, 3]);
  assert.deepEqual(third.removed, [first.rows[0], first.rows[3]]);
  assert.equal(third.rows[1], first.rows[1], 'u2 untouched');
  assert.equal(third.rows[2], first.rows[2]);
  pods['u3'] = { pod: [['k8s_pod_name', 'c']] }; // the held pod appears
  const fourth = send([1, 2, 3, 4, 5]);
  assert.equal(fourth.rows.length, 5);
  assert.deepEqual(fourth.added, [3]);
  assert.deepEqual([...fourth.values], [1, 2, 3, 4, 5], 'every row: values passed on');
});
