/** A real Prometheus server under test: starting Debian's, its HTTP query API, and waiting on it with a bound. */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpGet } from './agent.ts';
import { freePort } from './program-run.ts';

/** Debian's Prometheus (scripts/setup.sh --test installs it). */
export const PROMETHEUS = '/usr/bin/prometheus';

export interface PrometheusServer {
  /** Its HTTP API's port on 127.0.0.1. */
  readonly port: number;
  /** What it wrote to stderr so far (warnings and errors), for a failure's message. */
  log(): string;
  /** SIGTERM, then wait for it to exit. Safe twice. */
  stop(): Promise<void>;
}

/**
 * Debian's Prometheus on a free loopback port, running `config` (prometheus.yml text, written
 * to `dir`) with its TSDB under `dir/data`, logging warnings and errors only.
 */
export async function startPrometheus(dir: string, config: string): Promise<PrometheusServer> {
  const port = await freePort();
  const file = join(dir, 'prometheus.yml');
  writeFileSync(file, config);
  const proc = spawn(
    PROMETHEUS,
    [
      `--config.file=${file}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  proc.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    port,
    log: () => log,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

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
