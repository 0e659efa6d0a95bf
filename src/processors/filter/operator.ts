import { map, type OperatorFunction } from 'rxjs';
import type { MetricBatch } from '../../pipeline/data.ts';
import { mapPoints, newCounts } from '../../labels/points.ts';
import { LabelTables } from '../../labels/tables.ts';
import type { CountsSink } from '../../labels/processor.ts';
import { compileAnchored, type AnchoredRegex } from '../../labels/regex.ts';
import { isRegexName, type FilterProcessorConfig, type MatcherConfig, type MatchOp } from './config.ts';

/** A compiled Prometheus label matcher. */
export interface Matcher {
  readonly label: string;
  readonly op: MatchOp;
  readonly value: string;
  readonly regex: AnchoredRegex | undefined;
}

export interface CompiledFilter {
  /** undefined: every metric. */
  readonly includeNames: ((name: string) => boolean) | undefined;
  readonly excludeNames: (name: string) => boolean;
  /** undefined: every point. All must match to keep. */
  readonly include: readonly Matcher[] | undefined;
  /** Empty: none dropped. All must match to drop. */
  readonly exclude: readonly Matcher[];
}

function compileMatcher(m: MatcherConfig): Matcher {
  if (m.regex !== undefined) {
    return { label: m.label, op: m.op ?? '=~', value: m.regex, regex: compileAnchored(m.regex) };
  }
  return { label: m.label, op: m.op ?? '=', value: m.value ?? '', regex: undefined };
}

function compileNames(patterns: readonly string[]): (name: string) => boolean {
  const exact = new Set(patterns.filter((p) => !isRegexName(p)));
  const regexes = patterns.filter(isRegexName).map((p) => compileAnchored(p.slice(1, -1)));
  return (name) => exact.has(name) || regexes.some((r) => r.test(name));
}

/** Throws on an invalid regexp (the schema has already refused those). */
export function compileFilter(config: FilterProcessorConfig): CompiledFilter {
  return {
    includeNames: config.metrics.include && compileNames(config.metrics.include),
    excludeNames: compileNames(config.metrics.exclude),
    include: config.datapoints.include?.map(compileMatcher),
    exclude: config.datapoints.exclude.map(compileMatcher),
  };
}

/** Prometheus matcher semantics; a missing label reads as "". */
export function matches(m: Matcher, labels: ReadonlyMap<string, string>): boolean {
  const v = labels.get(m.label) ?? '';
  switch (m.op) {
    case '=':
      return v === m.value;
    case '!=':
      return v !== m.value;
    case '=~':
      return (m.regex as AnchoredRegex).test(v);
    case '!~':
      return !(m.regex as AnchoredRegex).test(v);
  }
}

export function keepMetric(f: CompiledFilter, name: string): boolean {
  return (f.includeNames === undefined || f.includeNames(name)) && !f.excludeNames(name);
}

export function keepPoint(f: CompiledFilter, labels: ReadonlyMap<string, string>): boolean {
  if (f.include && !f.include.every((m) => matches(m, labels))) return false;
  return !(f.exclude.length > 0 && f.exclude.every((m) => matches(m, labels)));
}

/**
 * The filter operator: whole metrics by name first (points with pending labels too: the
 * name is known), then points by matchers. A metric whose points were all filtered out
 * is removed; one that arrived without points stays.
 */
export function filter(f: CompiledFilter, sink: CountsSink): OperatorFunction<MetricBatch, MetricBatch> {
  const byPoint = f.include !== undefined || f.exclude.length > 0;
  const fn = (labels: Map<string, string>): boolean => keepPoint(f, labels);
  const tables = new LabelTables(fn);
  return map((batch) => {
    const kept = batch.families.filter((fam) => keepMetric(f, fam.name));
    const named = kept.length === batch.families.length ? batch : { ...batch, families: kept };
    if (!byPoint) return named;
    const counts = newCounts();
    const out = mapPoints(named, fn, counts, tables);
    sink(batch, counts);
    return out;
  });
}
