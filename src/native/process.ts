/**
 * Process-wide addon facts and tuning: errno text, libbpf version, CPU count, the post-attach
 * hook and glibc malloc tuning.
 */
import { loadedAddon, native, type MallocStats } from './addon.ts';

export type { MallocStats } from './addon.ts';

/** errno by name and meaning: `EPERM (operation not permitted)`. */
export function errnoText(errno: number): string {
  return native().errnoText(errno);
}

/** libbpf's version, e.g. `v1.1`. */
export function libbpfVersion(): string {
  return native().libbpfVersion();
}

/** libbpf_num_possible_cpus(): the CPU count per-CPU map values are laid out for. */
export function numPossibleCpus(): number {
  return native().numPossibleCpus;
}

/**
 * ebpf_exporter's post-attach hook: calls the addon's exported `post_attach_mark()`
 * once, so programs in `SEC("uprobe//proc/self/exe:post_attach_mark")` (attached to
 * that function in this process's addon) run. The agent calls it once after every
 * receiver has started. A no-op while the addon is not loaded.
 */
export function postAttachMark(): void {
  // Without the addon loaded no object was opened, so nothing can be attached to the mark.
  loadedAddon()?.postAttachMark();
}

export function mallocStats(): MallocStats {
  return native().mallocStats();
}

/** The user set glibc malloc themselves (MALLOC_* or GLIBC_TUNABLES): the agent leaves it alone. */
function userTunedMalloc(env: NodeJS.ProcessEnv): boolean {
  return env.GLIBC_TUNABLES !== undefined || Object.keys(env).some((k) => k.startsWith('MALLOC_'));
}

/** glibc malloc thresholds (bytes) while programs load, and after. */
const STARTUP_MMAP_THRESHOLD = 32 * 1024 * 1024;
const STARTUP_TRIM_THRESHOLD = 256 * 1024 * 1024;
const STEADY_MALLOC_THRESHOLD = 128 * 1024;

/**
 * glibc malloc for a long-running agent, in two phases. libbpf parses the kernel's
 * BTF (megabytes) at every object load and frees it after. If that memory goes back
 * to the kernel, the next load maps and faults in fresh pages: ~55 ms a load here,
 * against ~5–10 ms when it reuses the heap. So `startup` keeps freed memory in the
 * heap (large mmap and trim thresholds; at most two arenas) and `steady` (every
 * program loaded) hands the freed heap back and fixes both thresholds at 128 KiB,
 * so a scrape's garbage does not stay resident for good. A user who set MALLOC_* or
 * GLIBC_TUNABLES keeps their own settings: nothing is changed then. Returns whether
 * the settings were applied.
 */
export function tuneMalloc(phase: 'startup' | 'steady', env: NodeJS.ProcessEnv = process.env): boolean {
  if (userTunedMalloc(env)) return false;
  const a = native();
  if (phase === 'startup') return a.mallocTune(STARTUP_MMAP_THRESHOLD, STARTUP_TRIM_THRESHOLD, 2);
  a.mallocTrim();
  return a.mallocTune(STEADY_MALLOC_THRESHOLD, STEADY_MALLOC_THRESHOLD, 0);
}

/**
 * malloc_trim(0): every arena's free pages back to the kernel. free() gives memory back only
 * from the top of the heap, so a chunk freed below a live one stays resident. Returns false
 * without trimming when the user set MALLOC_* or GLIBC_TUNABLES (as tuneMalloc).
 */
export function trimMalloc(env: NodeJS.ProcessEnv = process.env): boolean {
  if (userTunedMalloc(env)) return false;
  native().mallocTrim();
  return true;
}

/**
 * The Node executable's clean pages unmapped from this process (native/addon.cc,
 * `dropExecutablePages`): a started agent no longer runs most of the code and reads most of
 * the built-in sources and start-up snapshot that start-up touched (V8's parser and
 * compilers, the module loader, config and object loading), yet every page touched once
 * stays mapped and counts in its RSS. Unmapped pages stay in the page cache (clean, equal to
 * the file); what the agent runs again is mapped again on its first access (a minor fault),
 * so its RSS from then on is what it still uses. Only private, read-only mappings of the
 * executable without an anonymous page are dropped. Returns the bytes that were resident.
 */
export function dropExecutablePages(): number {
  return native().dropExecutablePages();
}

/** The event loop's longest busy stretch, read and reset by `take` (native/loop.cc). */
export interface LoopBusyMonitor {
  /** Longest busy stretch since the previous take (or the start), in ms; 0 with no iteration. */
  take(): number;
  stop(): void;
}

/** Live monitors, each with its own maximum since its last take; the native side is shared. */
const loopMonitors = new Set<{ maxMs: number }>();

/** Fold the native maximum since the last read into every live monitor. */
function drainLoopBusy(): void {
  const { maxMs } = native().loopBusyTake();
  for (const m of loopMonitors) m.maxMs = Math.max(m.maxMs, maxMs);
}

/**
 * Measures how long the event loop ran callbacks between two waits for I/O: the delay
 * anything due in that stretch (a timer, a scrape's request) saw. Unlike
 * monitorEventLoopDelay it has no timer of its own: it is read once per loop iteration, just
 * before the loop waits, so an idle agent is not woken to measure it. Monitors may overlap
 * (a reload's old and new graph); each reads its own maximum.
 */
export function monitorLoopBusy(): LoopBusyMonitor {
  const a = native();
  if (loopMonitors.size === 0) a.loopBusyStart();
  else drainLoopBusy(); // what came before belongs to the monitors already running
  const self = { maxMs: 0 };
  loopMonitors.add(self);
  return {
    take: () => {
      if (!loopMonitors.has(self)) return 0;
      drainLoopBusy();
      const maxMs = self.maxMs;
      self.maxMs = 0;
      return maxMs;
    },
    stop: () => {
      if (loopMonitors.delete(self) && loopMonitors.size === 0) a.loopBusyStop();
    },
  };
}
