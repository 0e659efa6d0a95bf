/**
 * Which BPF programs a process holds, and waiting until the kernel has let them go.
 *
 * Other engineers and CI jobs run agents and tests with the same programs on the
 * same machine at the same time, so a test never asks "is a program named X
 * loaded?": it asks about the ids its own process (or the agent it started)
 * held, read from /proc/<pid>/fdinfo while they were held.
 *
 * The kernel does not free a program the instant its last fd closes: the free
 * is deferred (RCU; up to ~55 ms measured on the CI VM, longer under load), so
 * a check right after an agent exits or an object is closed races.
 * `waitForRelease` polls with a bound instead; a program that is really leaked
 * (pinned, or held by a process that outlived the agent) still fails it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** How long a released program may take to leave the kernel before a test calls it leaked. */
export const RELEASE_TIMEOUT_MS = 5_000;
const POLL_MS = 20;

/**
 * Ids of the BPF programs `pid` holds now: through program fds and through link
 * fds (both show `prog_id:` in fdinfo). Empty when the process is gone.
 */
export function programIdsHeldBy(pid: number | 'self'): number[] {
  const dir = `/proc/${pid}/fdinfo`;
  let fds: string[];
  try {
    fds = readdirSync(dir);
  } catch {
    return [];
  }
  const ids = new Set<number>();
  for (const fd of fds) {
    let info: string;
    try {
      info = readFileSync(`${dir}/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const m = /^prog_id:\s*(\d+)$/m.exec(info);
    if (m) ids.add(Number(m[1]));
  }
  return [...ids].sort((a, b) => a - b);
}

/** Every BPF program in the kernel now (all users'): id → name as bpftool shows it. */
export function kernelPrograms(): Map<number, string> {
  const json = execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8' });
  const list = JSON.parse(json) as { id: number; name?: string }[];
  return new Map(list.map((p) => [p.id, p.name ?? '']));
}

/** The names bpftool shows for `ids` (those still in the kernel). */
export function programNames(ids: Iterable<number>): string[] {
  const all = kernelPrograms();
  return [...ids].flatMap((id) => {
    const name = all.get(id);
    return name === undefined ? [] : [name];
  });
}

/**
 * Resolves once none of `ids` is in the kernel; rejects naming the ones that
 * remain when that takes longer than `timeoutMs`.
 */
export async function waitForRelease(ids: Iterable<number>, timeoutMs = RELEASE_TIMEOUT_MS): Promise<void> {
  const wanted = [...ids];
  const until = Date.now() + timeoutMs;
  for (;;) {
    const all = kernelPrograms();
    const left = wanted.filter((id) => all.has(id));
    if (left.length === 0) return;
    if (Date.now() >= until) {
      throw new Error(
        `BPF programs still in the kernel ${timeoutMs} ms after release: ` +
          left.map((id) => `${id} (${all.get(id)})`).join(', '),
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Whether a program name bpftool shows (the full BTF name, or the kernel's 15-character cut) is one of `names`. */
export function isOneOf(kernelName: string, names: readonly string[]): boolean {
  return kernelName.length > 0 && names.some((n) => n === kernelName || n.slice(0, 15) === kernelName);
}
