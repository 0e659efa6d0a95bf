/**
 * Triggers for tests: real system calls and the addon's uprobe target (native/addon.cc).
 */
import { native } from './addon.ts';

/** For tests: `n` real getpid(2) system calls from this thread; returns its thread id. */
export function syscallGetpid(n: number): number {
  return native().syscallGetpid(n);
}

/** For tests: `n` real getpgid(arg) system calls from this thread; returns its thread id. */
export function syscallGetpgid(n: number, arg: number): number {
  return native().syscallGetpgid(n, arg);
}

/** For uprobe tests: calls the addon's exported `ebpf_native_uprobe_target` function `n` times. */
export function callUprobeTarget(n: number): number {
  return native().callUprobeTarget(n);
}

/** The exported function callUprobeTarget calls, in the file ADDON_PATH. */
export const UPROBE_TARGET = 'ebpf_native_uprobe_target';
