import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { firstValueFrom, of, type OperatorFunction } from 'rxjs';
import { ExpositionWriter } from '../exporters/prometheus/text.ts';
import { assemble } from '../pipeline/assemble.ts';
import type { LabelSlot, MetricBatch, RawFamily } from '../pipeline/data.ts';
import { ResetTracker } from '../pipeline/resets.ts';
import { rawColumnsFamily } from '../pipeline/series.ts';
import { AttributesProcessor } from '../processors/attributes/processor.ts';
import { configSchema as attributesSchema } from '../processors/attributes/config.ts';
import { FilterProcessor } from '../processors/filter/processor.ts';
import { configSchema as filterSchema } from '../processors/filter/config.ts';
import { RelabelProcessor } from '../processors/relabel/processor.ts';
import { configSchema as relabelSchema } from '../processors/relabel/config.ts';
import { seededRandom as rng } from '../../test/helpers/random.ts';
import { otlpRequest } from '../../test/helpers/otlp-request.ts';

/**
 * relabel → attributes → filter on series tables, then assemble, the Prometheus writer and
 * the OTLP serializer: the exposition text and the OTLP request bytes equal, collection after
 * collection, those of the same data sent through the same processors as points.
 */
const logger = pino({ level: 'silent' });

function chain(): OperatorFunction<MetricBatch, MetricBatch>[] {
  return [
    new RelabelProcessor(
      'relabel',
      relabelSchema.parse({
        metric_relabel_configs: [
          { source_labels: ['comm'], regex: 'drop.*', action: 'drop' },
          { source_labels: ['comm'], regex: 'r(.*)', target_label: '__name__', replacement: 'renamed_$1' },
          { source_labels: ['comm'], modulus: 3, target_label: 'shard', action: 'hashmod' },
          { regex: 'pid', action: 'labeldrop' },
        ],
      }),
      logger,
    ).operator,
    new AttributesProcessor(
      'attributes',
      attributesSchema.parse({
        actions: [
          { action: 'upsert', key: 'env', value: 'prod' },
          { action: 'hash', key: 'secret' },
        ],
      }),
      logger,
    ).operator,
    new FilterProcessor(
      'filter',
      filterSchema.parse({ datapoints: { exclude: [{ label: 'comm', value: 'z' }] } }),
      logger,
    ).operator,
  ];
}

async function through(
  ops: OperatorFunction<MetricBatch, MetricBatch>[],
  b: MetricBatch,
): Promise<MetricBatch> {
  let out = b;
  for (const op of ops) out = await firstValueFrom(of(out).pipe(op));
  return out;
}

const COMMS = ['a', 'b', 'dropme', 'rx', 'ry', 'z'];
const slot = (name: string, value: string): LabelSlot => ({ name, value, pending: [] });

test('relabel, attributes and filter on series tables: text and OTLP bytes equal the points path', async () => {
  for (let seed = 1; seed <= 60; seed++) {
    const r = rng(seed);
    const int = (n: number): number => Math.floor(r() * n);
    const row = (): LabelSlot[] => [
      slot('comm', COMMS[int(COMMS.length)] as string),
      slot('pid', String(int(3))),
      ...(r() < 0.3 ? [slot('secret', String(int(5)))] : []),
    ];
    let tables = (['counter', 'gauge', 'counter'] as const).map((kind, i) => {
      const rows = Array.from({ length: 1 + int(10) }, row);
      return { name: `m${i}`, kind, rows, prev: [] as LabelSlot[][] };
    });
    const onTables = { ops: chain(), writer: new ExpositionWriter(), resets: new ResetTracker() };
    const onPoints = { ops: chain(), writer: new ExpositionWriter(), resets: new ResetTracker() };
    for (let c = 0; c < 5; c++) {
      const timeMs = 1_000 * (c + 1);
      const families: RawFamily[] = tables.map((t) => {
        const before = new Set(t.prev);
        const now = new Set(t.rows);
        return rawColumnsFamily(
          { name: t.name, help: 'h', kind: t.kind, histogram: undefined, startTimeMs: 0 },
          {
            rows: t.rows,
            values: Float64Array.from(t.rows, () => int(4) * c),
            added: t.rows.flatMap((x, i) => (before.has(x) ? [] : [i])),
            removed: t.prev.filter((x) => !now.has(x)),
          },
        );
      });
      const batch = (fs: RawFamily[]): MetricBatch => ({ source: 's', config: 'c', timeMs, families: fs });
      const a = await through(onTables.ops, batch(families));
      const b = await through(onPoints.ops, batch(families.map((f) => ({ ...f, points: [...f.points] }))));
      assert.ok(
        a.families.every((f) => f.columns !== undefined),
        `seed ${seed}, collection ${c}: tables on`,
      );
      const ta = assemble(a.families);
      const tb = assemble(b.families);
      const context = `seed ${seed}, collection ${c}`;
      assert.equal(onTables.writer.write(ta), onPoints.writer.write(tb), `${context}: text`);
      assert.deepEqual(
        otlpRequest(onTables.resets.apply(ta, timeMs), timeMs),
        otlpRequest(onPoints.resets.apply(tb, timeMs), timeMs),
        `${context}: OTLP request bytes`,
      );
      tables = tables.map((t) => {
        if (r() < 0.5) return { ...t, prev: t.rows };
        return {
          ...t,
          prev: t.rows,
          rows: [...t.rows.filter(() => r() < 0.7), ...(r() < 0.7 ? [row()] : [])],
        };
      });
    }
  }
});
