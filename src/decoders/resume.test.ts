import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstValueFrom, of } from 'rxjs';
import type { LabelSlot, MetricBatch } from '../pipeline/data.ts';
import { rawColumnsFamily } from '../pipeline/series.ts';
import { builtinDecoders } from './builtin.ts';
import type { Decoder } from './decoder.ts';
import { resumeDecoders } from './resume.ts';

/** resumeDecoders on series tables (src/pipeline/README.md). */
const registry = new Map<string, Decoder>(builtinDecoders.map((d) => [d.name, d]));
registry.set('t', { name: 't', decode: (input) => `T${String(input)}` });

const table = (rows: (readonly LabelSlot[])[]): MetricBatch => ({
  source: 's',
  config: 'c',
  timeMs: 0,
  families: [
    rawColumnsFamily(
      { name: 'f', help: 'h', kind: 'counter', histogram: undefined, startTimeMs: 0 },
      { rows, values: Float64Array.from(rows, (_, i) => i), added: [], removed: [] },
    ),
  ],
});

test('resumeDecoders: a table with nothing for the registry passes on as it is, its points never made', async () => {
  const rows = [[{ name: 'a', value: 'x', pending: [{ name: 'ksym' }] }]];
  const batch = table(rows);
  const family = batch.families[0];
  assert.ok(family);
  let made = 0;
  Object.defineProperty(family, 'points', {
    enumerable: true,
    get: () => {
      made++;
      return [];
    },
  });
  for (let i = 0; i < 2; i++) {
    const out = await firstValueFrom(of(batch).pipe(resumeDecoders(registry, () => {})));
    assert.equal(out.families[0], family);
  }
  assert.equal(made, 0);
});

test('resumeDecoders: a table whose labels it decodes comes out decoded (as points)', async () => {
  const rows = [
    [{ name: 'a', value: 'x', pending: [{ name: 't' }] }],
    [{ name: 'a', value: 'y', pending: [] }],
  ];
  const out = await firstValueFrom(of(table(rows)).pipe(resumeDecoders(registry, () => {})));
  assert.deepEqual(
    out.families[0]?.points.map((p) => `${String(p.labels[0]?.value)} ${p.value}`),
    ['Tx 0', 'y 1'],
  );
});
