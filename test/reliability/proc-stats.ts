import { readdirSync, readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';

/** What /proc says about a process now. */
export interface ProcSample {
  /** Seconds since the start of the measurement. */
  readonly t: number;
  readonly rssMiB: number;
  readonly fds: number;
  readonly threads: number;
}

/** RSS (MiB), open fds and threads of a process, from /proc. */
export function procSample(pid: number, t: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  const threads = Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
  return { t, rssMiB: kb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length, threads };
}

/** Least-squares slope of y over x. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** The q-quantile (0..1) of some numbers (nearest rank). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** The machine, for the printed figures. */
export function machine(): string {
  const c = cpus();
  return `${c.length} × ${c[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, kernel ${release()}, Node ${process.versions.node}`;
}
