/**
 * The PromQL of the committed dashboards and rules, as a Prometheus server is asked it: every
 * panel target and every alert expression, with Grafana's variables replaced by what "All"
 * sends (`.*`) and `$__rate_interval` by a range that holds several scrapes.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DASHBOARDS_DIR, RULES_FILE } from '../../deploy/monitoring/generate.ts';
import { repoRoot } from '../../deploy/monitoring/metrics.ts';

export interface PanelQuery {
  readonly dashboard: string;
  readonly panel: string;
  readonly refId: string;
  /** As committed, variables and all. */
  readonly expr: string;
}

interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; refId: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}

export interface DashboardJson {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown; allValue?: string }[] };
}

/** The committed dashboards, by file name. */
export function dashboards(): Map<string, DashboardJson> {
  const dir = join(repoRoot, DASHBOARDS_DIR);
  return new Map(
    readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => [f, JSON.parse(readFileSync(join(dir, f), 'utf8')) as DashboardJson]),
  );
}

/** Every panel of a dashboard, those inside collapsed rows included. */
export function panelsOf(d: DashboardJson): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

export function panelQueries(): PanelQuery[] {
  return [...dashboards()].flatMap(([file, d]) =>
    panelsOf(d).flatMap((p) =>
      (p.targets ?? []).map((t) => ({ dashboard: file, panel: p.title, refId: t.refId, expr: t.expr })),
    ),
  );
}

export interface RuleQuery {
  readonly alert: string;
  readonly expr: string;
}

export function ruleQueries(): RuleQuery[] {
  const file = parse(readFileSync(join(repoRoot, RULES_FILE), 'utf8')) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  return file.groups.flatMap((g) => g.rules.map((r) => ({ alert: r.alert, expr: r.expr })));
}

/** Grafana's substitution with every variable at "All" (`.*`) and the given rate range. */
export function substitute(expr: string, rateInterval: string): string {
  return expr
    .replaceAll('$__rate_interval', rateInterval)
    .replaceAll('$job', '.*')
    .replaceAll('$node', '.*')
    .replaceAll('$namespace', '.*');
}
