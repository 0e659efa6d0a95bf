import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadWithFallback } from '../../src/receivers/ebpf/loader.ts';
import { repoRoot } from './agent.ts';

/**
 * Which hook kinds the running kernel offers, so a program test can expect the
 * hook set the receiver should choose here: its fallbacks on the development
 * kernel (no kprobes, fentry refused), its preferred hooks on kernels that have
 * them (the qemu kernel matrix). Probed, never assumed.
 */
let cached: ReadonlySet<string> | undefined;

export function supportedHooks(): ReadonlySet<string> {
  if (cached) return cached;
  const hooks = new Set(['tp_btf', 'raw_tp', 'tracepoint', 'uprobe', 'usdt', 'iter']);
  if (existsSync('/sys/bus/event_source/devices/kprobe')) hooks.add('kprobe');
  if (existsSync('/sys/bus/event_source/devices/cpu')) hooks.add('perf_event_hw');
  // fentry: the kernel may have BTF and still refuse tracing programs (EPERM here).
  const outcome = loadWithFallback({
    path: join(repoRoot, 'build', 'bpf', 'hook_chain.bpf.o'),
    openOptions: {},
    globals: {},
    hookOrder: ['fentry', 'kprobe', 'tracepoint'],
  });
  if (outcome.attempts.some((a) => a.hook === 'fentry' && a.ok)) {
    hooks.add('fentry');
    hooks.add('fexit');
  }
  outcome.object?.close();
  cached = hooks;
  return hooks;
}

/** The first hook set of `preference` the running kernel supports. */
export function expectedHook(preference: readonly string[]): string {
  const hooks = supportedHooks();
  const hook = preference.find((h) => hooks.has(h));
  if (hook === undefined) throw new Error(`no hook of ${preference.join(', ')} is supported here`);
  return hook;
}
