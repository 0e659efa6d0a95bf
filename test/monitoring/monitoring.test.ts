/**
 * deploy/monitoring: the committed dashboards and rules are what scripts/monitoring.ts generates;
 * the dashboards cover every metric of the shipped programs and use only their variables; the
 * rules pass `promtool check rules` (plain and as the PrometheusRule's spec) and the promtool
 * unit tests of deploy/monitoring/rules, which fail when a rule changes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  PROMETHEUS_RULE_FILE,
  RULES_FILE,
  generatedFiles,
  staleFiles,
} from '../../deploy/monitoring/generate.ts';
import { defaultPrograms, programMetrics, repoRoot } from '../../deploy/monitoring/metrics.ts';
import { PROMTOOL } from '../helpers/promtool.ts';
import { dashboards, panelQueries, panelsOf, ruleQueries } from './queries.ts';

const RULES_TESTS = 'deploy/monitoring/rules/ebpf-collector.rules.test.yaml';

function promtool(args: string[], cwd = repoRoot): { status: number | null; out: string } {
  const r = spawnSync(PROMTOOL, args, { cwd, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const noPromtool = existsSync(PROMTOOL)
  ? false
  : process.env['CI']
    ? false // fails below: CI must have it
    : 'promtool not installed (scripts/setup.sh --test installs Debian prometheus)';

describe('monitoring: generated files', () => {
  it('the committed dashboards and rules are what scripts/monitoring.ts generates (--check)', async () => {
    assert.deepEqual(await staleFiles(), [], 'run: node scripts/monitoring.ts');
    const r = spawnSync(process.execPath, ['scripts/monitoring.ts', '--check'], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
  });

  it('the check can fail: an edited or missing file is stale', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'monitoring-'));
    try {
      const files = await generatedFiles();
      for (const [path, text] of files) {
        cpSync(join(repoRoot, path), join(dir, path), { recursive: true });
        assert.equal(readFileSync(join(dir, path), 'utf8'), text);
      }
      const [first, second] = [...files.keys()];
      writeFileSync(join(dir, first as string), `${files.get(first as string) ?? ''} `);
      rmSync(join(dir, second as string));
      assert.deepEqual(await staleFiles(dir), [first, second]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('monitoring: dashboards', () => {
  const all = dashboards();

  it('two dashboards, programs and agent, with distinct uids', () => {
    assert.deepEqual([...all.keys()], ['ebpf-collector-agent.json', 'ebpf-collector-programs.json']);
    assert.deepEqual(
      [...all.values()].map((d) => d.uid),
      ['ebpf-collector-agent', 'ebpf-collector-programs'],
    );
  });

  it('variables datasource, job, node and namespace; "All" is .* (it matches an absent label too)', () => {
    for (const d of all.values()) {
      assert.deepEqual(
        d.templating.list.map((v) => `${v.name}:${v.type}`),
        ['datasource:datasource', 'job:query', 'node:query', 'namespace:query'],
      );
      for (const v of d.templating.list.slice(1)) assert.equal(v.allValue, '.*');
    }
  });

  it('every panel queries the ${datasource} variable, and uses no variable it does not define', () => {
    for (const d of all.values()) {
      const defined = new Set(['__rate_interval', ...d.templating.list.map((v) => v.name)]);
      for (const p of panelsOf(d)) {
        if (p.type === 'row') continue;
        assert.equal(p.datasource?.uid, '${datasource}', `${d.title}: ${p.title}`);
        assert.ok((p.targets ?? []).length > 0, `${d.title}: ${p.title} has no query`);
        for (const t of p.targets ?? []) {
          for (const [, name] of t.expr.matchAll(/\$\{?(\w+)/g))
            assert.ok(defined.has(name as string), `${p.title}: $${name ?? ''} is not a variable`);
        }
      }
    }
  });

  it('the programs dashboard: a row per program of pipelines/default.yaml, every metric of its bpf/*.yaml queried', () => {
    const d = all.get('ebpf-collector-programs.json');
    assert.ok(d);
    const programs = defaultPrograms();
    assert.deepEqual(
      d.panels.filter((p) => p.type === 'row').map((p) => p.title),
      programs,
    );
    const exprs = panelQueries()
      .filter((q) => q.dashboard === 'ebpf-collector-programs.json')
      .map((q) => q.expr)
      .join('\n');
    for (const m of programs.flatMap(programMetrics)) {
      if (m.kind === 'histogram') {
        assert.ok(exprs.includes(`sum by (le) (rate(${m.name}_bucket{`), `${m.name}: no heatmap`);
        for (const q of ['0.5', '0.9', '0.99'])
          assert.ok(
            exprs.includes(`histogram_quantile(${q}, sum by (le) (rate(${m.name}_bucket{`),
            `${m.name} p${q}`,
          );
      } else {
        assert.ok(exprs.includes(`${m.name}{`), `${m.name}: not on the dashboard`);
      }
    }
    // timers reads timer_starts_total from two maps (counter slots and the hash map): one metric, one panel.
    assert.deepEqual(
      programMetrics('timers').map((m) => m.name),
      ['ebpf_exporter_timer_starts_total'],
    );
    assert.equal(
      panelsOf(d).filter((p) => p.title === 'timer_starts_total /s by function').length,
      1,
      'one panel for a metric read from two maps',
    );
    const heatmaps = panelsOf(d).filter((p) => p.type === 'heatmap');
    assert.equal(
      heatmaps.length,
      programs.flatMap(programMetrics).filter((m) => m.kind === 'histogram').length,
    );
  });
});

describe('monitoring: alert rules', { skip: noPromtool }, () => {
  it('the plain rules file passes promtool check rules', () => {
    const r = promtool(['check', 'rules', RULES_FILE]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, new RegExp(`SUCCESS: ${ruleQueries().length} rules found`));
  });

  it('the PrometheusRule holds the same groups, and they pass promtool check rules', () => {
    const rule = parse(readFileSync(join(repoRoot, PROMETHEUS_RULE_FILE), 'utf8')) as {
      kind: string;
      spec: { groups: unknown };
    };
    const plain = parse(readFileSync(join(repoRoot, RULES_FILE), 'utf8')) as { groups: unknown };
    assert.equal(rule.kind, 'PrometheusRule');
    assert.deepEqual(rule.spec.groups, plain.groups);
    const dir = mkdtempSync(join(tmpdir(), 'prometheusrule-'));
    try {
      writeFileSync(join(dir, 'spec.yaml'), JSON.stringify(rule.spec));
      const r = promtool(['check', 'rules', join(dir, 'spec.yaml')]);
      assert.equal(r.status, 0, r.out);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('agent down, program not attached, map near capacity, events dropped, exporter failing, Kubernetes watch down, reload failed', () => {
    assert.deepEqual(
      ruleQueries().map((r) => r.alert),
      [
        'EbpfCollectorDown',
        'EbpfCollectorProgramNotAttached',
        'EbpfCollectorMapNearCapacity',
        'EbpfCollectorMapUpdatesFailing',
        'EbpfCollectorEventsDropped',
        'EbpfCollectorExporterFailing',
        'EbpfCollectorKubernetesWatchDown',
        'EbpfCollectorReloadFailed',
      ],
    );
  });

  it('promtool test rules: every alert fires where it should and nowhere else', () => {
    const r = promtool(['test', 'rules', RULES_TESTS]);
    assert.equal(r.status, 0, r.out);
    // Every alert has a test case.
    const tests = readFileSync(join(repoRoot, RULES_TESTS), 'utf8');
    for (const { alert } of ruleQueries()) assert.match(tests, new RegExp(`alertname: ${alert}\\n`), alert);
  });

  it('the unit tests can fail: a changed threshold breaks them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rules-'));
    try {
      cpSync(join(repoRoot, RULES_TESTS), join(dir, 'ebpf-collector.rules.test.yaml'));
      const rules = readFileSync(join(repoRoot, RULES_FILE), 'utf8');
      assert.ok(rules.includes(') > 0.9\n'));
      writeFileSync(join(dir, 'ebpf-collector.rules.yaml'), rules.replace(') > 0.9\n', ') > 0.96\n'));
      const r = promtool(['test', 'rules', 'ebpf-collector.rules.test.yaml'], dir);
      assert.equal(r.status, 1, r.out);
      assert.match(r.out, /EbpfCollectorMapNearCapacity/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
