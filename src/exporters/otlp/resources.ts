import type { HistogramPoint, Labels, MetricFamily, ScalarPoint } from '../../pipeline/data.ts';

/** The families of one pod (or container), or of the node when `attributes` is empty. */
export interface PointResourceGroup {
  /** Resource attributes taken off the points (empty: node-level series). */
  readonly attributes: Readonly<Record<string, string>>;
  readonly families: MetricFamily[];
}

/**
 * Splits families by the resource their points belong to, as the Collector's
 * k8sattributes processor would have put them: the labels named in `resourceLabels`
 * (label → resource attribute name; SEMANTIC_ATTRIBUTE_NAMES, or the same names as they
 * are) leave the point and become the attributes of its group. Points carrying none of
 * them form the group with empty attributes (node-level series). One group per distinct
 * set of moved attributes, in order of first appearance; a family spread over several
 * pods appears in each group with that group's points. No label is in both places.
 */
export function splitByResource(
  families: readonly MetricFamily[],
  resourceLabels: Readonly<Record<string, string>>,
): PointResourceGroup[] {
  const groups = new Map<
    string,
    { attributes: Record<string, string>; points: Map<MetricFamily, unknown[]> }
  >();
  const group = (key: string, attributes: Record<string, string>): Map<MetricFamily, unknown[]> => {
    let g = groups.get(key);
    if (!g) {
      g = { attributes, points: new Map() };
      groups.set(key, g);
    }
    return g.points;
  };
  for (const family of families) {
    // A family without points stays with the node's series, as it was before the split.
    if (family.points.length === 0) group('[]', {}).set(family, []);
    for (const point of family.points as readonly (ScalarPoint | HistogramPoint)[]) {
      const { attributes, labels } = splitLabels(point.labels, resourceLabels);
      const key = JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      const byFamily = group(key, attributes);
      let points = byFamily.get(family);
      if (!points) {
        points = [];
        byFamily.set(family, points);
      }
      points.push(labels === point.labels ? point : { ...point, labels });
    }
  }
  return [...groups.values()].map((g) => ({
    attributes: g.attributes,
    families: [...g.points].map(([family, points]) => ({ ...family, points }) as MetricFamily),
  }));
}

function splitLabels(
  labels: Labels,
  resourceLabels: Readonly<Record<string, string>>,
): { attributes: Record<string, string>; labels: Labels } {
  const attributes: Record<string, string> = {};
  let rest: Record<string, string> | undefined;
  for (const [k, v] of Object.entries(labels)) {
    if (!Object.hasOwn(resourceLabels, k)) continue;
    attributes[resourceLabels[k] as string] = v;
    if (!rest) rest = { ...labels };
    delete rest[k];
  }
  return { attributes, labels: rest ?? labels };
}
