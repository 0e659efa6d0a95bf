/**
 * Building blocks of the generated dashboards (grafana-foundation-sdk builders): the variables
 * every dashboard has, the label matchers they select by, and the panel shapes we use.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as heatmap from '@grafana/grafana-foundation-sdk/heatmap';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as ts from '@grafana/grafana-foundation-sdk/timeseries';
import { NODE_LABEL, POD_LABELS, upstream } from './metrics.ts';

/** Every query goes to the data source the `datasource` variable picks. */
export const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

/** The range of rates: Grafana's, at least four scrape intervals. */
export const RATE_INTERVAL = '$__rate_interval';

/** Matchers every query carries: the agent's job and the node. */
export const AGENT = `job=~"$job", ${NODE_LABEL}=~"$node"`;
/** …and for series that carry pod labels (a cgroup label through the kubernetes pipeline). */
export const POD = `${AGENT}, ${POD_LABELS.namespace}=~"$namespace"`;

/** The agent's build info: the series that says "this target is an ebpf-collector". */
const BUILD_INFO = upstream('build_info');

/** datasource, job, node, namespace: multi-value with "All" as `.*` (it also matches an absent label). */
export function variables(): cog.Builder<dashboard.VariableModel>[] {
  const query = (name: string, label: string, definition: string) =>
    new dashboard.QueryVariableBuilder(name)
      .label(label)
      .datasource(DATASOURCE)
      .query({ query: definition, refId: `${name}-variable` })
      .definition(definition)
      .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
      .sort(dashboard.VariableSort.AlphabeticalAsc)
      .multi(true)
      .includeAll(true)
      .allValue('.*')
      .current({ text: 'All', value: '$__all' });
  return [
    new dashboard.DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'),
    query('job', 'Job', `label_values(${BUILD_INFO}, job)`),
    query('node', 'Node', `label_values(${BUILD_INFO}{job=~"$job"}, ${NODE_LABEL})`),
    query(
      'namespace',
      'Namespace',
      `label_values({__name__=~"${upstream('.+')}", ${POD_LABELS.namespace}!=""}, ${POD_LABELS.namespace})`,
    ),
  ];
}

/** A PromQL target. */
export function target(expr: string, legend: string, refId = 'A'): prometheus.DataqueryBuilder {
  return new prometheus.DataqueryBuilder()
    .datasource(DATASOURCE)
    .editorMode(prometheus.QueryEditorMode.Code)
    .expr(expr)
    .legendFormat(legend)
    .range()
    .refId(refId);
}

/** The buckets' rate of a histogram, summed over everything but `le` (and `by`). */
export function bucketRate(name: string, matchers: string, by: readonly string[] = []): string {
  return `sum by (${[...by, 'le'].join(', ')}) (rate(${name}_bucket{${matchers}}[${RATE_INTERVAL}]))`;
}

/** Heatmap of a histogram's buckets: `sum by (le) (rate(…_bucket[$__rate_interval]))`. */
export function histogramHeatmap(
  title: string,
  description: string,
  name: string,
  matchers: string,
  unit: string,
) {
  return new heatmap.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .withTarget(target(bucketRate(name, matchers), '{{le}}').format(prometheus.PromQueryFormat.Heatmap))
    .calculate(false)
    .yAxis(new heatmap.YAxisConfigBuilder().unit(unit))
    .color(
      new heatmap.HeatmapColorOptionsBuilder()
        .mode(heatmap.HeatmapColorMode.Scheme)
        .scheme('Oranges')
        .scale(heatmap.HeatmapColorScale.Exponential)
        .exponent(0.5),
    )
    .cellGap(1)
    .height(8)
    .span(12);
}

/** p50, p90 and p99 of a histogram, over everything but `by`. */
export function quantiles(
  title: string,
  description: string,
  name: string,
  matchers: string,
  unit: string,
  by: readonly string[] = [],
) {
  const suffix = by.length > 0 ? ` ${by.map((l) => `{{${l}}}`).join(' ')}` : '';
  const panel = timeseries(title, description, unit);
  for (const [i, q] of ['0.5', '0.9', '0.99'].entries()) {
    const label = `p${String(Number(q) * 100)}`;
    panel.withTarget(
      target(
        `histogram_quantile(${q}, ${bucketRate(name, matchers, by)})`,
        `${label}${suffix}`,
        String.fromCharCode(65 + i),
      ),
    );
  }
  return panel;
}

/** A time series panel without targets. */
export function timeseries(title: string, description: string, unit: string): ts.PanelBuilder {
  return new ts.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .unit(unit)
    .min(0)
    .fillOpacity(10)
    .height(8)
    .span(12);
}

/** A table of the series an instant query returns, one row each, labels as columns. */
export function instantTable(title: string, description: string, expr: string, hide: readonly string[] = []) {
  const excludeByName = Object.fromEntries(['Time', '__name__', ...hide].map((k) => [k, true]));
  return new table.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .withTarget(target(expr, '').instant().format(prometheus.PromQueryFormat.Table))
    .withTransformation({ id: 'organize', options: { excludeByName } })
    .height(8)
    .span(12);
}

/** A collapsed-by-default-no row. */
export function row(title: string): dashboard.RowBuilder {
  return new dashboard.RowBuilder(title);
}

/** The dashboard frame: tags, refresh, time range, variables, and a link to the other dashboards. */
export function frame(uid: string, title: string, description: string): dashboard.DashboardBuilder {
  const builder = new dashboard.DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['ebpf-collector', 'generated'])
    .editable()
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .link(
      new dashboard.DashboardLinkBuilder('ebpf-collector')
        .type(dashboard.DashboardLinkType.Dashboards)
        .tags(['ebpf-collector'])
        .asDropdown(true)
        .includeVars(true)
        .keepTime(true),
    );
  for (const v of variables()) builder.withVariable(v);
  return builder;
}
