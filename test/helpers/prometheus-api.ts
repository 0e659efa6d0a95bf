/** A real Prometheus server under test: its HTTP query API, and waiting on it with a bound. */
import { httpGet } from './agent.ts';

export interface QueryResult {
  metric: Record<string, string>;
  value: [number, string];
}

/** An instant query through Prometheus's HTTP API. */
export async function query(port: number, promql: string): Promise<QueryResult[]> {
  const res = await httpGet(port, `/api/v1/query?query=${encodeURIComponent(promql)}`);
  if (res.status !== 200) throw new Error(`query ${promql}: HTTP ${res.status} ${res.body}`);
  return (JSON.parse(res.body) as { data: { result: QueryResult[] } }).data.result;
}

/** Polls `fn` every 500 ms until it gives a value; fails with the last error after `timeoutMs`. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 45_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}
