import assert from 'node:assert/strict';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { emptyResource } from '@opentelemetry/resources';
import type { MetricFamily } from '../../src/pipeline/data.ts';
import { toMetricData } from '../../src/pipeline/otel.ts';

/** The library's serializer, configured as the prometheus exporter would configure it: the oracle. */
export function libraryExposition(families: readonly MetricFamily[]): string {
  const serializer = new PrometheusSerializer(undefined, false, undefined, true, true);
  return serializer.serialize({
    resource: emptyResource(),
    scopeMetrics: [{ scope: { name: 'ebpf-collector' }, metrics: toMetricData(families, 1_700_000_000_123) }],
  });
}

function numberOf(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf' || text === '-Infinity') return -Infinity;
  if (text === 'Infinity') return Infinity;
  if (text === 'NaN') return NaN;
  const n = Number(text);
  assert.ok(!Number.isNaN(n) && text.trim() === text && text !== '', `not a number: ${JSON.stringify(text)}`);
  return n;
}

/** Equal as doubles; NaN equals NaN and -0 equals 0 (Go writes both zeros as "0"). */
function sameNumber(a: string, b: string): boolean {
  const x = numberOf(a);
  const y = numberOf(b);
  return x === y || (Number.isNaN(x) && Number.isNaN(y));
}

const LE = /^(.*[{,]le=")([^"]*)("\})$/s;

/**
 * `ours` is the library's text byte for byte, except that sample values and `le` bounds
 * may be written in another form of the same number (Go's: `1.6e-05` for `0.000016`).
 */
export function assertSameExposition(ours: string, library: string, context: string): void {
  const a = ours.split('\n');
  const b = library.split('\n');
  assert.equal(a.length, b.length, `${context}: line count\n--- ours\n${ours}\n--- library\n${library}`);
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as string;
    const y = b[i] as string;
    if (x === y) continue;
    const where = `${context}, line ${i + 1}:\n  ours:    ${x}\n  library: ${y}`;
    assert.ok(!x.startsWith('#') && !y.startsWith('#'), where);
    const sx = x.lastIndexOf(' ');
    const sy = y.lastIndexOf(' ');
    assert.ok(sx > 0 && sy > 0, where);
    assert.ok(sameNumber(x.slice(sx + 1), y.slice(sy + 1)), `${where}\n  (values differ)`);
    const hx = x.slice(0, sx);
    const hy = y.slice(0, sy);
    if (hx === hy) continue;
    const mx = LE.exec(hx);
    const my = LE.exec(hy);
    assert.ok(mx && my && mx[1] === my[1] && mx[3] === my[3], `${where}\n  (series differ)`);
    assert.ok(sameNumber(mx[2] as string, my[2] as string), `${where}\n  (le differs)`);
  }
}
