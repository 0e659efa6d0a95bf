/** How the figures run what measures: the C floors in build/bench and the Node scripts in bench/. */
import { execFileSync, spawnSync } from 'node:child_process';
import { benchPath, root } from '../lib.ts';

/** Runs build/bench/<name> and returns its standard output. */
export function tool(name: string, args: string[]): string {
  return execFileSync(benchPath(`build/bench/${name}`), args, { encoding: 'utf8', maxBuffer: 64 << 20 });
}

/** Runs bench/<script> in a child Node and returns the last line of its output (its JSON). */
export function nodeScript(
  script: string,
  args: string[],
  timeoutMs = 180_000,
  nodeFlags: string[] = [],
): string {
  const r = spawnSync(process.execPath, [...nodeFlags, benchPath(`bench/${script}`), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`${script} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout.trim().split('\n').pop() as string;
}
