import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HistogramPoint, MetricFamily, ScalarPoint } from '../../pipeline/data.ts';
import { assertSameExposition, libraryExposition as oracle } from '../../../test/helpers/exposition.ts';
import { goFloat } from './float.ts';
import { ExpositionWriter } from './text.ts';
import { seededRandom as rng } from '../../../test/helpers/random.ts';

const NAME_CHARS = ['a', 'b', 'z', 'Q', '_', '_', '0', '7', '.', '-', ':', ' ', '\n', '\\', 'é', '"'];
const TEXT_CHARS = [
  'a',
  'b',
  ' ',
  '"',
  '\\',
  '\n',
  '\r',
  '\t',
  'é',
  '日',
  '😀',
  '{',
  '}',
  ',',
  '=',
  '\u2028',
  '#',
];

function gen(seed: number): MetricFamily[] {
  const r = rng(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const str = (chars: readonly string[], max: number): string => {
    let s = '';
    const n = int(max + 1);
    for (let i = 0; i < n; i++) s += pick(chars);
    return s;
  };
  const names = ['requests', 'x_total', 'x', '1st', '', '_', 'a.b-c', 'dup'];
  const metricName = (): string => (r() < 0.4 ? pick(names) : str(NAME_CHARS, 8));
  const labelName = (): string =>
    r() < 0.5 ? pick(['function', 'cpu', 'le', 'k8s.pod.name', '0', '12', 'a__b']) : str(NAME_CHARS, 6);
  const value = (): number =>
    pick([
      () => int(1000),
      () => 2 ** 53 + int(10) * 2,
      () => 1.8446744073709552e19,
      () => Number.MAX_VALUE,
      () => Number.MIN_VALUE,
      () => r() * 1e6 - 5e5,
      () => NaN,
      () => Infinity,
      () => -Infinity,
      () => -0,
      () => 1e21,
      () => 0.1 + 0.2,
    ])();
  const labels = (names: readonly string[]): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const n of names) out[n] = r() < 0.2 ? '' : str(TEXT_CHARS, 6);
    return out;
  };
  const families: MetricFamily[] = [];
  const nf = int(8);
  for (let i = 0; i < nf; i++) {
    const kind = pick(['counter', 'gauge', 'histogram'] as const);
    const help = r() < 0.2 ? '' : str(TEXT_CHARS, 10);
    const labelNames = Array.from({ length: int(4) }, labelName);
    const np = r() < 0.15 ? 0 : int(6);
    if (kind === 'histogram') {
      const points: HistogramPoint[] = [];
      for (let p = 0; p < np; p++) {
        const nb = int(5);
        const boundaries: number[] = [];
        let b = r() < 0.3 ? 0 : r() * 3;
        for (let k = 0; k < nb; k++) boundaries.push((b += pick([1, 0.5, 2 ** k, 1e-7, 1e21])));
        if (r() < 0.2) boundaries.push(Infinity);
        const counts = Array.from({ length: boundaries.length + (r() < 0.9 ? 1 : 0) }, () =>
          r() < 0.1 ? value() : int(100),
        );
        points.push({
          labels: labels(labelNames),
          boundaries,
          counts,
          sum: value(),
          count: r() < 0.8 ? counts.reduce((a, c) => a + c, 0) : value(),
        });
      }
      families.push({ kind, name: metricName(), help, startTimeMs: 1_700_000_000_000, points });
    } else {
      const points: ScalarPoint[] = Array.from({ length: np }, () => ({
        labels: labels(labelNames),
        value: value(),
      }));
      families.push({ kind, name: metricName(), help, startTimeMs: 1_700_000_000_000, points });
    }
  }
  return families;
}

/** The same families with new values (series kept), as the next scrape of the same maps sees them. */
function nextScrape(families: readonly MetricFamily[], step: number): MetricFamily[] {
  return families.map((f): MetricFamily => {
    if (f.kind === 'histogram') {
      return {
        ...f,
        points: f.points.map((p) => ({
          ...p,
          labels: { ...p.labels },
          counts: p.counts.map((c) => c + step),
          count: p.count + step * p.counts.length,
        })),
      };
    }
    return { ...f, points: f.points.map((p) => ({ ...p, labels: { ...p.labels }, value: p.value + step })) };
  });
}

/** Every number of a text (sample values, `le` bounds) is in Go's form: goFloat of its own value. */
function assertGoNumbers(text: string, context: string): void {
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const value = line.slice(line.lastIndexOf(' ') + 1);
    const parse = (t: string): number => (t === '+Inf' ? Infinity : t === '-Inf' ? -Infinity : Number(t));
    assert.equal(goFloat(parse(value)), value, `${context}: value of ${line}`);
    const le = /[{,]le="([^"]*)"\} [^ ]+$/.exec(line);
    if (le && line.includes('_bucket{'))
      assert.equal(goFloat(parse(le[1] as string)), le[1], `${context}: le of ${line}`);
  }
}

describe('ExpositionWriter writes what PrometheusSerializer writes, numbers in Go’s form', () => {
  it('over 3000 randomized inputs, across scrapes that reuse the label cache: byte for byte but numbers, compared by value', () => {
    const writer = new ExpositionWriter();
    for (let seed = 1; seed <= 3000; seed++) {
      const families = gen(seed);
      const text = writer.write(families);
      assertSameExposition(text, oracle(families), `seed ${seed}`);
      assertGoNumbers(text, `seed ${seed}`);
      const again = nextScrape(families, 3);
      assertSameExposition(writer.write(again), oracle(again), `seed ${seed}, second scrape`);
    }
  });

  it('le and values as Go writes them where JavaScript’s form differs (regression: le="0.000016")', () => {
    const families: MetricFamily[] = [
      {
        kind: 'histogram',
        name: 'bio_latency_seconds',
        help: 'h',
        startTimeMs: 0,
        points: [
          {
            labels: { device: 'vda' },
            boundaries: [0.000001, 0.000016, 0.000128, 1.048576],
            counts: [0, 1, 1234566, 0, 0],
            sum: 0.000012,
            count: 1234567,
          },
        ],
      },
      {
        kind: 'counter',
        name: 'calls_total',
        help: 'h',
        startTimeMs: 0,
        points: [{ labels: {}, value: 2 ** 53 + 2 }],
      },
    ];
    const want = [
      '# HELP bio_latency_seconds h',
      '# TYPE bio_latency_seconds histogram',
      'bio_latency_seconds_count{device="vda"} 1.234567e+06',
      'bio_latency_seconds_sum{device="vda"} 1.2e-05',
      'bio_latency_seconds_bucket{device="vda",le="1e-06"} 0',
      'bio_latency_seconds_bucket{device="vda",le="1.6e-05"} 1',
      'bio_latency_seconds_bucket{device="vda",le="0.000128"} 1.234567e+06',
      'bio_latency_seconds_bucket{device="vda",le="1.048576"} 1.234567e+06',
      'bio_latency_seconds_bucket{device="vda",le="+Inf"} 1.234567e+06',
      '# HELP calls_total h',
      '# TYPE calls_total counter',
      'calls_total 9.007199254740994e+15',
      '',
    ].join('\n');
    const text = new ExpositionWriter().write(families);
    assert.equal(text, want);
    assertSameExposition(text, oracle(families), 'known');
    assert.match(oracle(families), /le="0\.000016"/, 'the library writes JavaScript’s form');
  });

  it('nothing to write: the serializer’s placeholder', () => {
    assert.equal(new ExpositionWriter().write([]), '# no registered metrics');
    assert.equal(new ExpositionWriter().write([]), oracle([]));
  });

  it('known cases, each also checked against the oracle', () => {
    const families: MetricFamily[] = [
      {
        kind: 'counter',
        name: 'calls',
        help: 'a "help"\nwith \\ escapes',
        startTimeMs: 0,
        points: [{ labels: { function: 'a"b\\c\nd', 'k8s.pod': 'é' }, value: 2 ** 53 + 2 }],
      },
      { kind: 'gauge', name: 'empty', help: '', startTimeMs: 0, points: [] },
      {
        kind: 'histogram',
        name: 'lat',
        help: 'h',
        startTimeMs: 0,
        points: [{ labels: {}, boundaries: [1, 2], counts: [1, 0, 2], sum: NaN, count: 3 }],
      },
    ];
    const want = [
      '# HELP calls_total a "help"\\nwith \\\\ escapes',
      '# TYPE calls_total counter',
      'calls_total{function="a\\"b\\\\c\\nd",k8s_pod="é"} 9.007199254740994e+15',
      '# HELP empty description missing',
      '# TYPE empty gauge',
      '# HELP lat h',
      '# TYPE lat histogram',
      'lat_count 3',
      'lat_sum NaN',
      'lat_bucket{le="1"} 1',
      'lat_bucket{le="2"} 1',
      'lat_bucket{le="+Inf"} 3',
      '',
    ].join('\n');
    assert.equal(new ExpositionWriter().write(families), want);
    assertSameExposition(want, oracle(families), 'known cases');
  });

  it('keeps the label sets of the last scrape only', () => {
    const w = new ExpositionWriter();
    const fam = (n: number): MetricFamily[] => [
      {
        kind: 'gauge',
        name: 'g',
        help: 'h',
        startTimeMs: 0,
        points: Array.from({ length: n }, (_, i) => ({ labels: { i: String(i) }, value: i })),
      },
    ];
    w.write(fam(100));
    assert.equal(w.cachedLabelSets, 100);
    w.write(fam(10));
    assert.equal(w.cachedLabelSets, 10);
    assertSameExposition(w.write(fam(3)), oracle(fam(3)), 'last scrape');
    assert.equal(w.cachedLabelSets, 3);
  });
});
