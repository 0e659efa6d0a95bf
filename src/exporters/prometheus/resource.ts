import type { Labels, MetricFamily } from '../../pipeline/data.ts';
import { labelName } from './names.ts';

/**
 * `resource_to_telemetry_conversion`: the resource attributes as labels on every point of
 * `families`, named as every label is (names.ts `labelName`: `k8s.cluster.name` →
 * `k8s_cluster_name`, a leading digit gets `_`). A point's own label of the same name (after
 * sanitizing) wins: the resource never overwrites what the data says. When two keys give
 * the same name, the first in key order wins.
 * Without resource the families are returned as they are.
 */
export function withResourceLabels(
  families: readonly MetricFamily[],
  resource: Readonly<Record<string, string>> | undefined,
): MetricFamily[] {
  if (!resource) return [...families];
  const extra: Record<string, string> = {};
  for (const key of Object.keys(resource).sort()) {
    const name = labelName(key);
    if (name !== '' && !(name in extra)) extra[name] = resource[key] as string;
  }
  const label = (labels: Labels): Labels => {
    const own = new Set(Object.keys(labels).map(labelName));
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(extra)) if (!own.has(name)) out[name] = value;
    return { ...out, ...labels };
  };
  return families.map((f): MetricFamily => {
    if (f.kind === 'histogram') {
      return { ...f, points: f.points.map((p) => ({ ...p, labels: label(p.labels) })) };
    }
    return { ...f, points: f.points.map((p) => ({ ...p, labels: label(p.labels) })) };
  });
}
