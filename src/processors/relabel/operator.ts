import { createHash } from 'node:crypto';
import { map, type OperatorFunction } from 'rxjs';
import type { MetricBatch } from '../../pipeline/data.ts';
import { expandTemplate, hasReference } from '../../labels/expand.ts';
import { isLabelName } from '../../labels/names.ts';
import { mapPoints, newCounts } from '../../labels/points.ts';
import { LabelTables } from '../../labels/tables.ts';
import type { CountsSink } from '../../labels/processor.ts';
import { compileAnchored, type AnchoredRegex } from '../../labels/regex.ts';
import { RELABEL_DEFAULTS, type RelabelAction, type RelabelRule } from './config.ts';

/** A validated rule with its regexp compiled. */
export interface CompiledRule {
  readonly action: RelabelAction;
  readonly sourceLabels: readonly string[];
  readonly separator: string;
  readonly regex: AnchoredRegex;
  readonly regexIsDefault: boolean;
  readonly modulus: bigint;
  readonly targetLabel: string;
  readonly replacement: string;
}

/** Throws on an invalid regexp (the schema has already refused those). */
export function compileRules(rules: readonly RelabelRule[]): CompiledRule[] {
  return rules.map((r) => ({
    action: r.action,
    sourceLabels: r.source_labels ?? [],
    separator: r.separator,
    regex: compileAnchored(r.regex),
    regexIsDefault: r.regex === RELABEL_DEFAULTS.regex,
    modulus: BigInt(r.modulus),
    targetLabel: r.target_label,
    replacement: r.replacement,
  }));
}

/**
 * Apply `rules` in order to `labels` (which holds `__name__`), as Prometheus's
 * `relabel.Process` does. Returns false when the series is dropped. Setting a label to
 * "" deletes it; a missing label reads as "".
 */
export function applyRules(labels: Map<string, string>, rules: readonly CompiledRule[]): boolean {
  const set = (name: string, value: string): void => {
    if (value === '') labels.delete(name);
    else labels.set(name, value);
  };
  for (const rule of rules) {
    const val = rule.sourceLabels.map((n) => labels.get(n) ?? '').join(rule.separator);
    switch (rule.action) {
      case 'drop':
        if (rule.regex.test(val)) return false;
        break;
      case 'keep':
        if (!rule.regex.test(val)) return false;
        break;
      case 'dropequal':
        if ((labels.get(rule.targetLabel) ?? '') === val) return false;
        break;
      case 'keepequal':
        if ((labels.get(rule.targetLabel) ?? '') !== val) return false;
        break;
      case 'replace': {
        // Prometheus's fast path: a constant label (or its deletion) from an empty value.
        if (
          val === '' &&
          rule.regexIsDefault &&
          !hasReference(rule.targetLabel) &&
          !hasReference(rule.replacement)
        ) {
          set(rule.targetLabel, rule.replacement);
          break;
        }
        const m = rule.regex.exec(val);
        if (!m) break;
        const target = expandTemplate(rule.targetLabel, m);
        if (!isLabelName(target)) break;
        set(target, expandTemplate(rule.replacement, m));
        break;
      }
      case 'lowercase':
        set(rule.targetLabel, val.toLowerCase());
        break;
      case 'uppercase':
        set(rule.targetLabel, val.toUpperCase());
        break;
      case 'hashmod':
        set(rule.targetLabel, hashmod(val, rule.modulus).toString());
        break;
      case 'labelmap':
        for (const [name, value] of [...labels]) {
          const m = rule.regex.exec(name);
          if (!m) continue;
          const to = expandTemplate(rule.replacement, m);
          // Prometheus sets whatever comes out; we skip names our exporters could not write.
          if (isLabelName(to)) set(to, value);
        }
        break;
      case 'labeldrop':
        for (const name of [...labels.keys()]) if (rule.regex.test(name)) labels.delete(name);
        break;
      case 'labelkeep':
        for (const name of [...labels.keys()]) if (!rule.regex.test(name)) labels.delete(name);
        break;
    }
  }
  return true;
}

/**
 * Prometheus's hashmod: md5 of the value, its last 8 bytes read as a big-endian
 * uint64 (Go's `sum64` shifts the first 8 bytes out), modulo `modulus`.
 */
export function hashmod(value: string, modulus: bigint): bigint {
  const digest = createHash('md5').update(value, 'utf8').digest();
  return digest.readBigUInt64BE(8) % modulus;
}

/** The relabel operator: each point with final labels goes through `rules`. */
export function relabel(
  rules: readonly CompiledRule[],
  sink: CountsSink,
): OperatorFunction<MetricBatch, MetricBatch> {
  const fn = (labels: Map<string, string>): boolean => applyRules(labels, rules);
  const tables = new LabelTables(fn);
  return map((batch) => {
    const counts = newCounts();
    const out = mapPoints(batch, fn, counts, tables);
    sink(batch, counts);
    return out;
  });
}
