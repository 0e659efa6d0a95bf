import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { EMPTY, Subject, of, throwError, toArray, lastValueFrom } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { pino } from 'pino';
import { SelfTelemetry } from '../../pipeline/telemetry.ts';
import { relabelProcessorFactory } from './factory.ts';
import { loadConfigFiles, loadConfigSources } from '../../config/load.ts';
import { validateComponentConfig, validateValue } from '../../config/validate.ts';
import type { LabelSlot, MetricBatch, RawFamily } from '../../pipeline/data.ts';
import { newCounts, type PointCounts } from '../../labels/points.ts';
import { configSchema, type RelabelProcessorConfig } from './config.ts';
import { applyRules, compileRules, hashmod, relabel } from './operator.ts';
import {
  relabelCases,
  targetLabelCases,
  validateCases,
  type RuleInput,
} from './testdata/prometheus-cases.ts';
import { testHost } from '../../../test/helpers/host.ts';

/**
 * Rules as the schema sees them after the loader (which turns `$${1}` written in YAML
 * into `${1}`, see the README), validated with the same error conversion.
 */
const noFile = loadConfigSources([{ file: 't.yaml', text: '{}' }]);

function validateRules(rules: readonly RuleInput[]) {
  return validateValue(configSchema, { metric_relabel_configs: rules }, noFile, ['processors', 'relabel']);
}

function parse(rules: readonly RuleInput[]): RelabelProcessorConfig {
  const r = validateRules(rules);
  if (!r.value) throw new Error(r.errors.map((e) => e.format()).join('\n'));
  return r.value;
}

function errorsOf(rule: RuleInput): { code: string; message: string }[] {
  return validateRules([rule]).errors.map((e) => ({ code: e.code, message: e.message }));
}

describe('relabel: Prometheus relabel cases', () => {
  for (const c of relabelCases) {
    it(c.name, () => {
      const rules = compileRules(parse(c.rules).metric_relabel_configs);
      const labels = new Map(Object.entries(c.input));
      const kept = applyRules(labels, rules);
      if (c.output === 'drop') assert.equal(kept, false);
      else {
        assert.equal(kept, true);
        assert.deepEqual(Object.fromEntries(labels), c.output);
      }
    });
  }
});

describe('relabel: config validation', () => {
  for (const c of validateCases) {
    it(c.name, () => {
      const errors = errorsOf(c.rule);
      if (!c.error) {
        assert.deepEqual(errors, []);
        return;
      }
      const { code, message } = c.error;
      assert.ok(
        errors.some((e) => e.code === code && e.message.includes(message)),
        `expected ${code} "${message}", got ${JSON.stringify(errors)}`,
      );
    });
  }
  for (const [target, valid] of targetLabelCases) {
    it(`replace target_label ${JSON.stringify(target)} is ${valid ? 'valid' : 'invalid'}`, () => {
      const errors = errorsOf({ source_labels: ['a'], target_label: target });
      assert.equal(errors.length === 0, valid, JSON.stringify(errors));
    });
  }

  it('defaults come from the schema', () => {
    assert.deepEqual(parse([{ target_label: 'x' }]).metric_relabel_configs, [
      { separator: ';', regex: '(.*)', modulus: 0, target_label: 'x', replacement: '$1', action: 'replace' },
    ]);
    assert.deepEqual(parse([]), { metric_relabel_configs: [] });
  });

  async function checkFile(name: string) {
    const file = relative(process.cwd(), join(import.meta.dirname, 'testdata', name));
    const loaded = await loadConfigFiles([file], {});
    const r = validateComponentConfig(configSchema, loaded, ['processors', 'relabel']);
    return { file, value: r.value, lines: r.errors.map((e) => e.format()) };
  }

  it('testdata/good.yaml is valid; $${1} in YAML reaches the rule as ${1}', async () => {
    const { value, lines } = await checkFile('good.yaml');
    assert.deepEqual(lines, []);
    assert.equal(value?.metric_relabel_configs.length, 4);
    assert.equal(value?.metric_relabel_configs[3]?.replacement, 'disk_${1}');
    const rules = compileRules(value?.metric_relabel_configs ?? []);
    const labels = new Map([
      ['__name__', 'ebpf_bio_total'],
      ['dev', 'sdb1'],
      ['cgroup_id', '7'],
    ]);
    assert.equal(applyRules(labels, rules), true);
    assert.deepEqual(Object.fromEntries(labels), {
      __name__: 'ebpf_bio_total',
      dev: 'sdb1',
      disk: 'disk_sdb',
    });
  });

  it('testdata/bad.yaml: every problem, positioned, with its code', async () => {
    const { file, lines } = await checkFile('bad.yaml');
    const at = 'processors.relabel.metric_relabel_configs';
    assert.deepEqual(lines, [
      `${file}:4:9: ${at}[0]: the replace action requires 'target_label' [ERR_CONFIG_MISSING]`,
      `${file}:7:18: ${at}[1].regex: not a valid RE2 regexp: RE2 has no lookahead or lookbehind ((?=…) [ERR_CONFIG_REGEXP]`,
      `${file}:10:20: ${at}[2].separator: the keepequal action takes only 'source_labels' and 'target_label' [ERR_CONFIG_VALUE]`,
      `${file}:12:23: ${at}[3].target_label: "0bad" is invalid 'target_label' for hashmod: expected a label name [ERR_CONFIG_VALUE]`,
      `${file}:14:9: ${at}[3].extra: unknown key; expected one of source_labels, separator, regex, modulus, target_label, replacement, action [ERR_CONFIG_UNKNOWN_KEY]`,
    ]);
  });
});

describe('relabel: hashmod', () => {
  it('uses the low 8 bytes of md5, big-endian, modulo', () => {
    // md5("baz") = 73feffa4b7f6bb68e44cf984c85f6e88; 0xe44cf984c85f6e88 % 1000 = 976
    assert.equal(hashmod('baz', 1000n), 976n);
    assert.equal(hashmod('foo\nbar', 1000n), 734n);
    assert.equal(hashmod('baz', 0xffffffffffffffffn), 0xe44cf984c85f6e88n);
  });
});

// ---------------------------------------------------------------------------------------
// the operator over batches

const slot = (name: string, value: string): LabelSlot => ({ name, value, pending: [] });
const pendingSlot = (name: string): LabelSlot => ({
  name,
  value: new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]),
  pending: [{ name: 'ksym' }],
});

function family(
  name: string,
  points: { labels: LabelSlot[]; value: number }[],
  kind: RawFamily['kind'] = 'counter',
): RawFamily {
  return { name, help: `${name} help`, kind, startTimeMs: 1, points };
}

function batch(...families: RawFamily[]): MetricBatch {
  return { source: 'ebpf/test', config: 'test', timeMs: 2, families };
}

function labelsOf(f: RawFamily | undefined): Record<string, string>[] {
  return (f?.points ?? []).map((p) => Object.fromEntries(p.labels.map((l) => [l.name, String(l.value)])));
}

function op(rules: readonly RuleInput[], counts: PointCounts[] = []) {
  return relabel(compileRules(parse(rules).metric_relabel_configs), (_b, c) => counts.push(c));
}

describe('relabel: operator', () => {
  it('empty: completes without emitting', async () => {
    assert.deepEqual(await lastValueFrom(EMPTY.pipe(op([]), toArray())), []);
  });

  it('one batch: drops, rewrites, keeps label order, passes untouched points by identity', async () => {
    const untouched = { labels: [slot('comm', 'bash')], value: 3 };
    const input = batch(
      family('ebpf_syscalls_total', [untouched, { labels: [slot('comm', 'kworker/0:1')], value: 5 }]),
      family('ebpf_tmp_x', [{ labels: [], value: 1 }]),
    );
    const [out] = await lastValueFrom(
      of(input).pipe(
        op([
          { source_labels: ['__name__'], regex: 'ebpf_tmp_.*', action: 'drop' },
          { source_labels: ['comm'], regex: '(kworker)/.*', target_label: 'comm' },
        ]),
        toArray(),
      ),
    );
    assert.ok(out);
    assert.equal(out.families[0]?.points[0], untouched);
    assert.deepEqual(labelsOf(out.families[0]), [{ comm: 'bash' }, { comm: 'kworker' }]);
    assert.equal(out.families.length, 1, 'the family whose only point was dropped is removed');
  });

  it('a label that arrives empty and is not touched stays (regression: no label-set drift)', async () => {
    const point = { labels: [slot('comm', ''), slot('pid', '1')], value: 1 };
    const out = await lastValueFrom(
      of(batch(family('f', [point]))).pipe(op([{ regex: 'x', action: 'labeldrop' }])),
    );
    assert.equal(out.families[0]?.points[0], point);
  });

  it('renaming __name__ moves the point to a family of that name after its original', async () => {
    const input = batch(
      family('a_total', [
        { labels: [slot('k', 'x')], value: 1 },
        { labels: [slot('k', 'y')], value: 2 },
      ]),
    );
    const [out] = await lastValueFrom(
      of(input).pipe(
        op([{ source_labels: ['k'], regex: 'y', target_label: '__name__', replacement: 'b_total' }]),
        toArray(),
      ),
    );
    assert.deepEqual(
      out?.families.map((f) => [f.name, f.kind, f.help, f.points.map((p) => p.value)]),
      [
        ['a_total', 'counter', 'a_total help', [1]],
        ['b_total', 'counter', 'a_total help', [2]],
      ],
    );
  });

  it('a histogram keeps its bucket label last and hidden from the rules', async () => {
    const input = batch(
      family('lat', [{ labels: [slot('dev', 'sda'), slot('bucket', '3')], value: 7 }], 'histogram'),
    );
    const [out] = await lastValueFrom(
      of(input).pipe(
        op([
          { regex: 'bucket|dev', action: 'labeldrop' },
          { target_label: 'zone', replacement: 'a' },
        ]),
        toArray(),
      ),
    );
    assert.deepEqual(labelsOf(out?.families[0]), [{ zone: 'a', bucket: '3' }]);
  });

  it('points with a pending decoder pass untouched and are counted as skipped', async () => {
    const pending = { labels: [pendingSlot('fn')], value: 1 };
    const counts: PointCounts[] = [];
    const [out] = await lastValueFrom(
      of(batch(family('f', [pending]))).pipe(op([{ regex: '.*', action: 'drop' }], counts), toArray()),
    );
    assert.equal(out?.families[0]?.points[0], pending);
    assert.deepEqual(counts, [{ ...newCounts(), skipped: 1 }]);
  });

  it('deleting __name__ drops that point and counts an error; the rest goes on', async () => {
    const counts: PointCounts[] = [];
    const [out] = await lastValueFrom(
      of(
        batch(
          family('f', [
            { labels: [slot('k', 'x')], value: 1 },
            { labels: [slot('k', 'y')], value: 2 },
          ]),
        ),
      ).pipe(
        op([{ source_labels: ['k'], regex: 'x', target_label: '__name__', replacement: '' }], counts),
        toArray(),
      ),
    );
    assert.deepEqual(
      out?.families[0]?.points.map((p) => p.value),
      [2],
    );
    assert.equal(counts[0]?.errors, 1);
    assert.match(counts[0]?.lastError ?? '', /invalid metric name/);
  });

  it('many batches, upstream error, never-completing source (marbles)', () => {
    const scheduler = new TestScheduler((a, e) => assert.deepEqual(a, e));
    scheduler.run(({ cold, expectObservable }) => {
      const b = batch(family('f', [{ labels: [slot('k', 'v')], value: 1 }]));
      const expected = batch(family('f', [{ labels: [slot('k', 'v'), slot('x', 'y')], value: 1 }]));
      const rules: RuleInput[] = [{ target_label: 'x', replacement: 'y' }];
      expectObservable(cold('a-b-|', { a: b, b }).pipe(op(rules))).toBe('a-b-|', {
        a: expected,
        b: expected,
      });
      expectObservable(cold('a-#', { a: b }, new Error('boom')).pipe(op(rules))).toBe(
        'a-#',
        { a: expected },
        new Error('boom'),
      );
      expectObservable(cold('a--', { a: b }).pipe(op(rules))).toBe('a--', { a: expected });
    });
  });

  it('upstream error passes through; early unsubscribe stops work', async () => {
    await assert.rejects(lastValueFrom(throwError(() => new Error('up')).pipe(op([]))), /up/);
    const src = new Subject<MetricBatch>();
    const seen: MetricBatch[] = [];
    const sub = src.pipe(op([])).subscribe((b) => seen.push(b));
    src.next(batch());
    sub.unsubscribe();
    src.next(batch());
    assert.equal(seen.length, 1);
    assert.equal(src.observed, false);
  });
});

describe('relabel: component', () => {
  it('counts skipped and failed points in self-metrics labelled by processor id', async () => {
    const telemetry = new SelfTelemetry();
    const logger = pino({ enabled: false });
    const config = parse([
      { source_labels: ['k'], regex: 'x', target_label: '__name__', replacement: '0bad' },
    ]);
    const p = await relabelProcessorFactory.create({ id: 'relabel/names', logger, configDir: '.' }, config);
    await p.shutdown(); // safe before start
    await p.start(testHost({ logger, telemetry }));
    const pending: LabelSlot = { name: 'fn', value: new Uint8Array(8), pending: [{ name: 'ksym' }] };
    const out = await lastValueFrom(
      of(
        batch(
          family('f', [
            { labels: [slot('k', 'x')], value: 1 },
            { labels: [pending], value: 2 },
          ]),
        ),
      ).pipe(p.operator),
    );
    assert.deepEqual(
      out.families[0]?.points.map((x) => x.value),
      [2],
    );
    const snap = Object.fromEntries(telemetry.snapshot().map((f) => [f.name, f.points]));
    assert.deepEqual(snap['processor_skipped_points_total'], [
      { labels: { processor: 'relabel/names' }, value: 1 },
    ]);
    assert.deepEqual(snap['processor_errors_total'], [{ labels: { processor: 'relabel/names' }, value: 1 }]);
    await p.shutdown();
    await p.shutdown(); // and twice
  });
});
