import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Labels, MetricFamily } from '../../pipeline/data.ts';
import { scalarColumnsFamily } from '../../pipeline/series.ts';
import { assertSameExposition, libraryExposition } from '../../../test/helpers/exposition.ts';
import { ExpositionWriter } from './text.ts';
import { seededRandom as rng } from '../../../test/helpers/random.ts';

/**
 * Series tables through the writer (src/pipeline/README.md): label text kept per labels
 * object, lines per table, value text per row. Every scrape is compared with the library's
 * serializer (numbers by value) and with the writer's points path, byte for byte, over
 * randomized tables whose values change and whose series come and go.
 */
const VALUE_CHARS = ['a', 'b', 'z', '0', '9', ' ', '"', '\\', '\n', '{', '}', ',', '=', 'é', '日', '😀', '_'];
const NAME_CHARS = ['a', 'b', 'c', '_', '0', ':', '-', '.', 'Z'];
const NUMBERS = [0, -0, 1, 2.5, 1e21, 2 ** 53 + 2, 1234567, 0.000016, NaN, Infinity, -Infinity, -3];

function gen(seed: number): {
  tables: { name: string; kind: 'counter' | 'gauge'; rows: Labels[] }[];
  r: () => number;
} {
  const r = rng(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const str = (chars: readonly string[], max: number): string => {
    let s = '';
    for (let i = int(max + 1); i > 0; i--) s += chars[int(chars.length)] as string;
    return s;
  };
  const tables = [];
  for (let f = int(4); f >= 0; f--) {
    const names = Array.from({ length: int(3) }, () => str(NAME_CHARS, 5) || 'l');
    const rows: Labels[] = [];
    const seen = new Set<string>();
    for (let i = int(12); i >= 0; i--) {
      const labels: Record<string, string> = {};
      for (const n of names) labels[n] = str(VALUE_CHARS, 6);
      const key = JSON.stringify(labels);
      if (seen.has(key)) continue; // a table's label sets are distinct (assemble's output)
      seen.add(key);
      rows.push(labels);
    }
    tables.push({
      name: r() < 0.3 ? 'dup_name' : str(NAME_CHARS, 8),
      kind: r() < 0.5 ? ('counter' as const) : ('gauge' as const),
      rows,
    });
  }
  return { tables, r };
}

test('series tables through the writer equal the serializer and the points path, scrape after scrape', () => {
  const writer = new ExpositionWriter();
  // The same output encoded a few characters at a time (slices cut between pieces).
  const sliced = new ExpositionWriter({ sliceChars: 13 });
  for (let seed = 1; seed <= 1500; seed++) {
    const { tables, r } = gen(seed);
    const pick = (): number => NUMBERS[Math.floor(r() * NUMBERS.length)] as number;
    let current = tables.map((t) => ({ ...t, values: Float64Array.from(t.rows, pick) }));
    for (let scrape = 0; scrape < 4; scrape++) {
      const families: MetricFamily[] = current.map((t) =>
        scalarColumnsFamily(
          { kind: t.kind, name: t.name, help: 'h', startTimeMs: 0 },
          { rows: t.rows, values: t.values },
        ),
      );
      const plain = families.map((f): MetricFamily => ({ ...f, points: [...f.points] }) as MetricFamily);
      const text = writer.write(families);
      const context = `seed ${seed}, scrape ${scrape}`;
      assertSameExposition(text, libraryExposition(plain), context);
      assert.equal(text, new ExpositionWriter().write(plain), `${context}: points path`);
      assert.equal(sliced.write(families), text, `${context}: small slices`);
      // Next scrape: the same tables with new values (some repeat), or series gone and new.
      current = current.map((t) => {
        if (r() < 0.6) return { ...t, values: t.values.map((v) => (r() < 0.5 ? v : pick())) };
        const kept = t.rows.filter(() => r() < 0.7);
        const rows = [...kept, ...(r() < 0.5 ? [{ ...(t.rows[0] ?? {}), fresh: String(scrape) }] : [])];
        return { ...t, rows, values: Float64Array.from(rows, pick) };
      });
    }
  }
});

test('a table whose values repeat hands out the same bytes again; bytes handed out are never written again', () => {
  const rows: Labels[] = Array.from({ length: 50 }, (_, i) => ({ k: `v${i}`, u: 'é' }));
  const family = (values: Float64Array): MetricFamily =>
    scalarColumnsFamily({ kind: 'counter', name: 'm', help: 'h', startTimeMs: 0 }, { rows, values });
  const writer = new ExpositionWriter({ sliceChars: 100 });
  const first = writer.writeBytes([family(Float64Array.from(rows, (_, i) => i))]);
  const before = Buffer.concat(first);
  assert.ok(first.length > 3, 'the table is cut into slices');
  const again = writer.writeBytes([family(Float64Array.from(rows, (_, i) => i))]);
  const table = first.filter((c) => again.includes(c));
  assert.equal(table.length, first.length - 1, 'every chunk of the table handed out again (not the header)');
  const changed = writer.writeBytes([family(Float64Array.from(rows, (_, i) => i + 1))]);
  assert.ok(Buffer.concat(first).equals(before), 'the first scrape’s bytes are unchanged');
  assert.ok(!changed.some((c) => first.includes(c)), 'new values, new bytes');
  assertSameExposition(
    Buffer.concat(changed).toString(),
    libraryExposition([{ ...family(Float64Array.from(rows, (_, i) => i + 1)) }]),
    'changed values',
  ); // Only the last row changes (values longer than the rows: the rest means nothing), then NaN
  // twice: the same bits hand out the same bytes.
  const last = Float64Array.from({ length: 60 }, (_, i) => (i < 50 ? i + 1 : 7));
  last[49] = NaN;
  const lastOnly = Buffer.concat(writer.writeBytes([family(last)])).toString();
  assert.ok(lastOnly.endsWith('m_total{k="v49",u="é"} NaN\n'), lastOnly.slice(-40));
  last[55] = 8;
  const nanAgain = writer.writeBytes([family(last)]);
  assert.equal(Buffer.concat(nanAgain).toString(), lastOnly);
});
