/** A test's code run in a new Node process, for what is process-wide (V8 flags, glibc malloc, the event loop). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

export interface ModuleChildOptions {
  /** Added to the environment (which has no MALLOC_* or GLIBC_TUNABLES of this process's own). */
  readonly env?: Record<string, string>;
  /** The child's process.argv after its script. */
  readonly args?: readonly string[];
  readonly timeoutMs?: number;
}

/**
 * Runs ES module `code` in a new Node process and returns what it wrote to stdout; the child
 * must exit 0 (its stderr is the failure message). The agent leaves malloc alone when a user
 * set MALLOC_* or GLIBC_TUNABLES, so those are passed only as `env` gives them.
 */
export function runModule(code: string, options: ModuleChildOptions = {}): string {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('MALLOC_') && k !== 'GLIBC_TUNABLES'),
  );
  const r = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', code, ...(options.args ? ['--', ...options.args] : [])],
    {
      encoding: 'utf8',
      env: { ...base, ...options.env },
      ...(options.timeoutMs !== undefined ? { timeout: options.timeoutMs } : {}),
    },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** runModule, its stdout parsed as JSON. */
export function runModuleJson<T = Record<string, unknown>>(
  code: string,
  options: ModuleChildOptions = {},
): T {
  return JSON.parse(runModule(code, options)) as T;
}
