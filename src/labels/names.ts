/**
 * Name rules. We use Prometheus's legacy character sets (what every exporter of ours
 * can write without escaping), not Prometheus 3's UTF-8 names.
 */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** The label that holds the metric name in relabeling and matchers. */
export const METRIC_NAME_LABEL = '__name__';

export function isLabelName(name: string): boolean {
  return LABEL_NAME.test(name);
}

export function isMetricName(name: string): boolean {
  return METRIC_NAME.test(name);
}
