import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { dropExecutablePages, trimMalloc, tuneMalloc } from './native/index.ts';

/** After "agent started": when start-up's garbage is collected. */
export const SETTLE_MS = 1000;
/** How often a running agent hands glibc's free memory back. */
export const TRIM_INTERVAL_MS = 10_000;

let gcFunction: ((options?: object) => void) | undefined;

/**
 * One full garbage collection that also gives memory back (V8's `gc` with the
 * `last-resort` flavour: every available garbage, the heap shrunk). V8 hands `gc` only to
 * a context made while --expose-gc is set, so one is made with it on and the flag goes off
 * again: the process's own global gets no `gc`.
 */
export function collectGarbage(): void {
  if (!gcFunction) {
    setFlagsFromString('--expose-gc');
    try {
      gcFunction = runInNewContext('gc') as (options?: object) => void;
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  }
  gcFunction({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

/**
 * A started agent's memory settles, and stays settled (src/service.ts calls this once every
 * program is attached; a process that stands for the agent in a test calls it too):
 * - glibc malloc leaves its start-up phase (`tuneMalloc('steady')`: the heap libbpf's object
 *   loads kept is handed back, large buffers are mapped on their own).
 * - Start-up leaves megabytes of garbage (config parsing, object files read, the
 *   kallsyms text) that V8's memory reducer would collect only ~15 s later: one full
 *   collection SETTLE_MS after start gives it back at once.
 * - free() returns memory to the kernel only from the top of a heap; buffers the
 *   collector frees below live chunks (map reads, file reads) stay resident for good:
 *   glibc's malloc_trim every TRIM_INTERVAL_MS (about a millisecond each) hands them back.
 *   Nothing is trimmed when the user set MALLOC_* or GLIBC_TUNABLES.
 * - Start-up touched ~45 MB of the Node executable (code of V8's parser and compilers and
 *   of the module loader, the built-in sources and snapshot) that a running agent mostly
 *   does not use again: its clean pages are unmapped once, after that collection, and what
 *   the agent still runs is mapped again from the page cache (`dropExecutablePages`).
 * Returns a function that stops the timers; neither keeps the process alive.
 */
export function settleMemory(): () => void {
  tuneMalloc('steady');
  const settle = setTimeout(() => {
    collectGarbage();
    trimMalloc();
    dropExecutablePages();
  }, SETTLE_MS).unref();
  const trim = setInterval(() => trimMalloc(), TRIM_INTERVAL_MS).unref();
  return () => {
    clearTimeout(settle);
    clearInterval(trim);
  };
}
