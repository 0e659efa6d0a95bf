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

/**
 * For tests: an io_uring kernel thread in this process. 'worker': one read of an empty pipe
 * submitted with IOSQE_ASYNC, so the kernel starts an io-wq worker ("iou-wrk-<tid>") blocked
 * in it; 'sqpoll': a ring with its own submission thread ("iou-sqp-<pid>"). Until
 * `ioUringRelease()`; throws when the kernel refuses io_uring.
 */
export function ioUringThread(kind: 'worker' | 'sqpoll'): void {
  native().ioUringThread(kind === 'sqpoll');
}

/** Completes ioUringThread's read and closes its ring (the kernel keeps a last idle worker). */
export function ioUringRelease(): void {
  native().ioUringRelease();
}

/** The exported function callUprobeTarget calls, in the file ADDON_PATH. */
export const UPROBE_TARGET = 'ebpf_native_uprobe_target';
