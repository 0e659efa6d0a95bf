/**
 * Footprint of the agent (issue 8, figure 4; issue 6's startup target): starts
 * bin/ebpf-collector.js with a pipeline (default: pipelines/default.yaml) on a free
 * loopback port, then
 *   - startup: spawn → the "agent started" log line (every program attached);
 *   - idle: RSS and CPU% over a window without scrapes;
 *   - scraped: GET /metrics every `intervalS` (15 s) over `windowS` (≥ 60 s): RSS steady
 *     (at the end) and max (sampled every second), CPU% of one core over the window.
 * CPU comes from /proc/<pid>/stat (utime + stime), RSS from /proc/<pid>/status.
 *
 *   npx node bench/footprint.ts [--config FILE] [--window S] [--idle S] [--interval S] [--json]
 *   import { measureFootprint } from './footprint.ts'
 */
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface FootprintOptions {
  /** Pipeline YAML. Default pipelines/default.yaml. */
  readonly config?: string;
  /** Scrape window in seconds (≥ 60 for the figure). Default 60. */
  readonly windowS?: number;
  /** Idle window before the first scrape, in seconds. Default 15. */
  readonly idleS?: number;
  /** Scrape interval in seconds. Default 15. */
  readonly intervalS?: number;
  /** Extra arguments for node before the script (e.g. V8 flags), to compare settings. */
  readonly nodeArgs?: readonly string[];
  /** Extra environment for the agent. */
  readonly env?: Readonly<Record<string, string>>;
  /** Give up when the agent has not started after this long. Default 60 s. */
  readonly startTimeoutMs?: number;
}

export interface Footprint {
  /** RSS at the end of the idle window, MB (MiB). */
  readonly rssIdleMB: number;
  /** RSS at the end of the scrape window (steady state), MB. */
  readonly rssScrapeMB: number;
  /** Highest RSS seen in the scrape window (sampled every second), MB. */
  readonly rssMaxMB: number;
  /** CPU over the scrape window, % of one core. */
  readonly cpuPercent: number;
  /** CPU over the idle window, % of one core. */
  readonly cpuIdlePercent: number;
  /** Spawn → "agent started" (every program attached), ms. */
  readonly startupMs: number;
  /** CPU time the agent used until "agent started", ms (less sensitive to a busy machine than startupMs). */
  readonly startupCpuMs: number;
  /** Series (sample lines) in the last scrape. */
  readonly series: number;
  /** Mean time of one GET /metrics, ms. */
  readonly scrapeMs: number;
  readonly windowS: number;
  readonly idleS: number;
  /** /proc/<pid>/smaps_rollup at the end, kB: Rss, Pss, Anonymous, … */
  readonly smapsKiB: Readonly<Record<string, number>>;
}

interface ProcSample {
  readonly cpuS: number;
  readonly rssMB: number;
}

const clockTicks = (): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
};

function procSample(pid: number, hz: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuS = (Number(fields[11]) + Number(fields[12])) / hz;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuS, rssMB: rssKiB / 1024 };
}

function smapsRollup(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const line of readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n')) {
      const m = /^(\w+):\s+(\d+) kB/.exec(line);
      if (m) out[m[1] as string] = Number(m[2]);
    }
  } catch {
    // not every kernel has smaps_rollup
  }
  return out;
}

function scrape(port: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePromise(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error('GET /metrics timed out')));
  });
}

/** Start the agent, measure, stop it (SIGTERM; SIGKILL after 20 s). */
export async function measureFootprint(options: FootprintOptions = {}): Promise<Footprint> {
  const config = resolve(root, options.config ?? 'pipelines/default.yaml');
  const windowS = options.windowS ?? 60;
  const idleS = options.idleS ?? 15;
  const intervalS = options.intervalS ?? 15;
  const hz = clockTicks();
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), join(root, 'bin', 'ebpf-collector.js'), 'run', '--config', config],
    {
      cwd: root,
      env: { ...process.env, EBPF_COLLECTOR_LISTEN: '127.0.0.1:0', ...options.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const exited = new Promise<number | string>((res) =>
    child.on('exit', (code, signal) => res(code ?? signal ?? -1)),
  );
  const logs: string[] = [];
  try {
    const { port, startupMs, startupCpuMs } = await new Promise<{
      port: number;
      startupMs: number;
      startupCpuMs: number;
    }>((res, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`agent did not start:\n${logs.slice(-20).join('\n')}`)),
        options.startTimeoutMs ?? 60_000,
      );
      let buf = '';
      child.stderr.on('data', (chunk: Buffer) => {
        buf += chunk.toString();
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (logs.length < 500) logs.push(line);
          if (!line.includes('"agent started"')) continue;
          const rec = JSON.parse(line) as { metrics?: string };
          clearTimeout(timer);
          if (!rec.metrics) return reject(new Error(`no metrics URL in the start line: ${line}`));
          const startupMs = performance.now() - t0;
          const cpu = procSample(child.pid as number, hz).cpuS * 1000;
          res({ port: Number(new URL(rec.metrics).port), startupMs, startupCpuMs: cpu });
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`agent exited (${code}) before starting:\n${logs.slice(-20).join('\n')}`));
      });
    });
    const pid = child.pid as number;

    await delay(2000); // settle: start-up garbage, first timers
    let a = procSample(pid, hz);
    let t = performance.now();
    await delay(idleS * 1000);
    let b = procSample(pid, hz);
    const cpuIdlePercent = ((b.cpuS - a.cpuS) / ((performance.now() - t) / 1000)) * 100;
    const rssIdleMB = b.rssMB;

    // A scrape every intervalS, RSS sampled every second, over windowS.
    a = procSample(pid, hz);
    t = performance.now();
    let rssMaxMB = 0;
    let series = 0;
    let scrapeTotalMs = 0;
    let scrapes = 0;
    let nextScrape = 0;
    for (;;) {
      const elapsedS = (performance.now() - t) / 1000;
      if (elapsedS >= windowS) break;
      if (elapsedS >= nextScrape) {
        const s0 = performance.now();
        const body = await scrape(port);
        scrapeTotalMs += performance.now() - s0;
        scrapes++;
        series = body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
        nextScrape += intervalS;
      }
      rssMaxMB = Math.max(rssMaxMB, procSample(pid, hz).rssMB);
      await delay(Math.min(1000, Math.max(0, (windowS - (performance.now() - t) / 1000) * 1000)));
    }
    b = procSample(pid, hz);
    const measuredS = (performance.now() - t) / 1000;
    rssMaxMB = Math.max(rssMaxMB, b.rssMB);
    return {
      rssIdleMB,
      rssScrapeMB: b.rssMB,
      rssMaxMB,
      cpuPercent: ((b.cpuS - a.cpuS) / measuredS) * 100,
      cpuIdlePercent,
      startupMs,
      startupCpuMs,
      series,
      scrapeMs: scrapes > 0 ? scrapeTotalMs / scrapes : NaN,
      windowS: measuredS,
      idleS,
      smapsKiB: smapsRollup(pid),
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(force);
    }
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const num = (name: string): number | undefined => {
    const v = arg(name);
    return v === undefined ? undefined : Number(v);
  };
  const f = await measureFootprint({
    config: arg('--config'),
    windowS: num('--window'),
    idleS: num('--idle'),
    intervalS: num('--interval'),
  });
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(f, null, 2)}\n`);
  } else {
    const r = (x: number): string => x.toFixed(x >= 100 ? 0 : 2);
    process.stdout.write(
      [
        `startup (spawn → "agent started"): ${r(f.startupMs)} ms (${r(f.startupCpuMs)} ms of CPU)`,
        `idle ${f.idleS} s: RSS ${r(f.rssIdleMB)} MB, CPU ${r(f.cpuIdlePercent)} % of a core`,
        `scraped every ${num('--interval') ?? 15} s for ${r(f.windowS)} s (${f.series} series, ${r(f.scrapeMs)} ms per scrape): ` +
          `RSS ${r(f.rssScrapeMB)} MB steady, ${r(f.rssMaxMB)} MB max, CPU ${r(f.cpuPercent)} % of a core`,
        `smaps_rollup: Rss ${f.smapsKiB['Rss']} kB, Anonymous ${f.smapsKiB['Anonymous']} kB`,
        `targets: RSS ≤ 80 MB ${f.rssMaxMB <= 80 ? 'met' : 'missed'}; CPU ≤ 0.5 % ${f.cpuPercent <= 0.5 ? 'met' : 'missed'}; startup < 2 s ${f.startupMs < 2000 ? 'met' : 'missed'}`,
      ].join('\n') + '\n',
    );
  }
}
