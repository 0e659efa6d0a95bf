import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface RunningAgent {
  readonly child: ChildProcess;
  readonly port: number;
  readonly logs: string[];
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * Start the agent as a user would (bin/ebpf-collector.js run) on a free
 * loopback port; resolves when its start line is logged.
 */
export function startAgent(
  configs: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<RunningAgent> {
  return startAgentWith(['run', ...configs.flatMap((c) => ['--config', c])], env, timeoutMs);
}

/**
 * The start timeout: `timeoutMs`, raised (never lowered) by
 * EBPF_COLLECTOR_TEST_START_TIMEOUT_MS — the kernel matrix sets it, because under
 * qemu TCG the agent takes longer than 30 s to start.
 */
export function startTimeoutMs(timeoutMs: number): number {
  const raised = Number(process.env['EBPF_COLLECTOR_TEST_START_TIMEOUT_MS'] ?? '');
  return Number.isFinite(raised) && raised > timeoutMs ? raised : timeoutMs;
}

/** How long a child that failed to start gets after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2_000;

/**
 * Start bin/ebpf-collector.js with these arguments. On a start timeout or any
 * other start failure the child is ended (SIGTERM, SIGKILL after a grace) and
 * waited for before the promise rejects, so a failed start leaves no process
 * that keeps the test file running. `wrapper` is a command that execs the rest
 * (e.g. `setpriv --bounding-set … --`), so the child's pid is the agent's.
 */
export async function startAgentWith(
  cliArgs: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
  wrapper: readonly string[] = [],
  /** Open fds of this process given to the child as fd 3, 4, … (e.g. a listening socket). */
  fds: readonly number[] = [],
  /** Options for Node itself, before the script (e.g. `--trace-gc`). */
  nodeArgs: readonly string[] = [],
): Promise<RunningAgent> {
  const limitMs = startTimeoutMs(timeoutMs);
  const cmd = [
    ...wrapper,
    process.execPath,
    ...nodeArgs,
    join(repoRoot, 'bin', 'ebpf-collector.js'),
    ...cliArgs,
  ];
  const child = spawn(cmd[0] as string, cmd.slice(1), {
    cwd: repoRoot,
    env: { ...process.env, EBPF_COLLECTOR_LISTEN: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe', ...fds],
  });
  const logs: string[] = [];
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1));
    // spawn itself failed: no 'exit' follows.
    child.on('error', (err) => {
      if (child.pid === undefined) resolve(`spawn error: ${err.message}`);
    });
  });
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`agent did not start in ${limitMs} ms:\n${logs.join('\n')}`)),
        limitMs,
      );
      let buf = '';
      const onData = (chunk: Buffer): void => {
        buf += chunk.toString();
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          logs.push(line);
          try {
            const rec = JSON.parse(line) as { msg?: string; metrics?: string };
            if (rec.msg === 'agent started' && rec.metrics) {
              clearTimeout(timer);
              resolve(Number(new URL(rec.metrics).port));
            }
          } catch {
            // not JSON: keep it for the failure message
          }
        }
      };
      child.stderr?.on('data', onData);
      child.stdout?.on('data', (c: Buffer) => logs.push(c.toString()));
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`agent exited (${code}) before starting:\n${logs.join('\n')}`));
      });
    });
  } catch (err) {
    await endChild(child, exited);
    throw err;
  }
  return {
    child,
    port,
    logs,
    exited,
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      child.kill(signal);
      return exited;
    },
  };
}

/** SIGTERM, then SIGKILL after KILL_GRACE_MS; resolves once the child has exited. */
async function endChild(child: ChildProcess, exited: Promise<number | string>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<'grace'>(
    (resolve) => (timer = setTimeout(() => resolve('grace'), KILL_GRACE_MS)),
  );
  if ((await Promise.race([exited, graceOver])) === 'grace') {
    child.kill('SIGKILL');
    await exited;
  }
  clearTimeout(timer);
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export function httpGet(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    // A connection of its own: Node's global agent keeps sockets alive, and a request after a pause
    // longer than the server's keep-alive timeout can meet a socket the server is closing.
    const req = get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let raw = Buffer.concat(chunks);
        if (res.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.toString('utf8') });
      });
    });
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error(`GET ${path} timed out`)));
  });
}

/** GET, with the response's content type beside its status and body. */
export async function httpGetTyped(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string; body: string }> {
  const r = await httpGet(port, path, headers);
  return { status: r.status, type: String(r.headers['content-type']), body: r.body };
}

/** Samples of one metric from exposition text: labels → value. */
export function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{\s]+(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ labels, value: Number(m[2]) });
  }
  return out;
}

/** Run the CLI to completion. */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
  wrapper: readonly string[] = [],
): { status: number | null; stdout: string; stderr: string } {
  const cmd = [...wrapper, process.execPath, join(repoRoot, 'bin', 'ebpf-collector.js'), ...args];
  const r = spawnSync(cmd[0] as string, cmd.slice(1), {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
