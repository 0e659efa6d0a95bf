/**
 * `helm template` for the subset of Go templates our chart (deploy/helm/ebpf-collector) uses, so
 * the chart can be rendered and checked on a machine without a helm binary. It is not Helm: the
 * chart must stay inside this subset (test/deploy checks that every template renders).
 *
 * The subset:
 *   - text and actions `{{ … }}`, with `{{-` / `-}}` trimming whitespace (newlines included);
 *     comments `{{/* … *\/}}`;
 *   - `define "name"` … `end`, `include "name" ARG`, `template "name" ARG`;
 *   - `if` / `else if` / `else` / `end`, `with` / `else` / `end`, `range X` and
 *     `range $k, $v := X` (lists in order, maps by sorted key) with `end`;
 *   - pipelines `a | f b`; operands `.`, `$`, `.Values.a.b`, `$.Values.x`, `$var.x`, `(…)`,
 *     strings, numbers, true/false/nil; variables `$x := …` and `$x = …`;
 *   - functions: include, toYaml, toJson, nindent, indent, quote, squote, default, required,
 *     empty, not, and, or, eq, ne, lt, gt, printf (%s %d %v %q), print, trunc, trimSuffix,
 *     lower, upper, replace, sha256sum, list, dict, hasKey, keys, concat, int;
 *   - objects: `.Values`, `.Release.Name/Namespace/Service/IsInstall`, `.Chart.Name/Version/AppVersion`
 *     (from Chart.yaml), `.Files.Get PATH`, `.Files.Glob PATTERN` (a map path → content).
 *
 * Values: values.yaml, then each override merged over it (maps deep-merge, the rest replaced).
 * Output: every template not starting with `_`, split into YAML documents on `---`.
 *
 *   node scripts/helm-template.ts CHART_DIR [-f values.yaml]… [--release NAME] [--namespace NS]
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { Engine } from './helm/engine.ts';
import { ChartFiles, mergeValues, type Value } from './helm/values.ts';

export interface RenderOptions {
  readonly releaseName?: string;
  readonly namespace?: string;
  /** Value overrides merged over values.yaml, in order (helm's `-f`). */
  readonly values?: readonly Record<string, unknown>[];
}

export interface RenderedFile {
  /** Template path relative to the chart, e.g. `templates/daemonset.yaml`. */
  readonly template: string;
  /** The YAML documents it produced (empty ones dropped). */
  readonly documents: readonly Record<string, unknown>[];
}

/** Render a chart directory as `helm template` would, within the subset above. */
export function renderChart(chartDir: string, opts: RenderOptions = {}): RenderedFile[] {
  const chart = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  let values = (parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) ?? {}) as Value;
  for (const v of opts.values ?? []) values = mergeValues(values, v);
  const templatesDir = join(chartDir, 'templates');
  const files = readdirSync(templatesDir)
    .filter((f) => /\.(ya?ml|tpl)$/.test(f))
    .sort();
  const engine = new Engine();
  const parsed = files.map((f) => {
    const name = `templates/${f}`;
    return { name, nodes: engine.parse(readFileSync(join(templatesDir, f), 'utf8'), name) };
  });
  const root: Value = {
    Values: values,
    Release: {
      Name: opts.releaseName ?? 'ebpf-collector',
      Namespace: opts.namespace ?? 'default',
      Service: 'Helm',
      IsInstall: true,
    },
    Chart: { Name: chart['name'], Version: chart['version'], AppVersion: chart['appVersion'] },
    Files: new ChartFiles(chartDir),
  };
  const out: RenderedFile[] = [];
  for (const { name, nodes } of parsed) {
    if (name.startsWith('templates/_')) continue;
    const text = engine.run(nodes, root, name);
    const documents = parseAllDocuments(text).flatMap((d) => {
      if (d.errors.length > 0) throw new Error(`${name}: rendered YAML is invalid: ${d.errors[0]?.message}`);
      const v = d.toJS() as Record<string, unknown> | null | undefined;
      return v === null || v === undefined ? [] : [v];
    });
    out.push({ template: name, documents });
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// CLI: print the rendered documents as one YAML stream (like `helm template`)

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const args = process.argv.slice(2);
  let chartDir: string | undefined;
  const values: Record<string, unknown>[] = [];
  const o: { releaseName?: string; namespace?: string } = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-f' || a === '--values') {
      values.push(parseYaml(readFileSync(args[++i] as string, 'utf8')) as Record<string, unknown>);
    } else if (a === '--release') o.releaseName = args[++i];
    else if (a === '--namespace' || a === '-n') o.namespace = args[++i];
    else chartDir = a;
  }
  if (!chartDir) {
    process.stderr.write(
      'usage: node scripts/helm-template.ts CHART_DIR [-f values.yaml]… [--release NAME] [-n NS]\n',
    );
    process.exit(2);
  }
  for (const f of renderChart(chartDir, { ...o, values })) {
    for (const d of f.documents) {
      process.stdout.write(
        `---\n# Source: ${relative(process.cwd(), join(chartDir, f.template))}\n${stringify(d)}`,
      );
    }
  }
}
