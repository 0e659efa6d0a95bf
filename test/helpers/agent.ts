import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
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

/** Start bin/ebpf-collector.js with these arguments. */
export async function startAgentWith(
  cliArgs: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<RunningAgent> {
  const args = [join(repoRoot, 'bin', 'ebpf-collector.js'), ...cliArgs];
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: { ...process.env, EBPF_COLLECTOR_LISTEN: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`agent did not start in ${timeoutMs} ms:\n${logs.join('\n')}`)),
      timeoutMs,
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
    const req = get({ host: '127.0.0.1', port, path, headers }, (res) => {
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

/** Names of BPF programs loaded in the kernel now (bpftool; names are cut to 15 characters). */
/** Run the CLI to completion. */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'ebpf-collector.js'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function loadedProgramNames(): string[] {
  const json = execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8' });
  return (JSON.parse(json) as { name?: string }[]).map((p) => p.name ?? '');
}

/** Whether a program name bpftool shows (the full BTF name, or the kernel's 15-character cut) is one of `names`. */
export function isOneOf(kernelName: string, names: readonly string[]): boolean {
  return kernelName.length > 0 && names.some((n) => n === kernelName || n.slice(0, 15) === kernelName);
}
