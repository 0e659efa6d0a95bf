/** Shared set-up for the addon's real-kernel tests (*.kernel.test.ts beside this file). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openObject, type BpfObject } from './index.ts';
import { ensureTracefs } from './tracefs.ts';

export const OBJ_DIR = fileURLToPath(new URL('../../build/bpf/', import.meta.url));
export const ADDON_TEST = `${OBJ_DIR}addon_test.bpf.o`;
export const VERIFIER_REJECT = `${OBJ_DIR}verifier_reject.bpf.o`;
export const EXTERN_MISSING = `${OBJ_DIR}extern_missing.bpf.o`;
export const ATTACH_FAIL = `${OBJ_DIR}attach_fail.bpf.o`;

/** addon_test.bpf.o loaded with its filters on this process's main thread. */
export function loadAddonTest(cookie = 0x1122334455667788n): BpfObject {
  ensureTracefs();
  const spec = openObject(ADDON_TEST);
  spec.setGlobal('targ_tgid', process.pid);
  spec.setGlobal('targ_tid', process.pid); // the main thread's id is the pid
  spec.setGlobal('targ_cookie', cookie);
  spec.setGlobal('targ_enabled', true);
  return spec.load();
}

/** ADDON_TEST_MARKER of test/bpf/addon_test.h: the getpgid argument the ring programs react to. */
export const MARKER = 0x3ffffffe;

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

export function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** Sum of a per-CPU u64 value laid out with an 8-byte stride per CPU. */
export function sumPerCpu(value: Buffer): bigint {
  let sum = 0n;
  for (let at = 0; at + 8 <= value.length; at += 8) sum += value.readBigUInt64LE(at);
  return sum;
}

/** CPUs in /sys/devices/system/cpu/possible, e.g. "0-1" → 2. */
export function possibleCpus(): number {
  let n = 0;
  for (const part of readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split(',')) {
    const [a, b] = part.split('-').map(Number);
    n += b === undefined ? 1 : b - (a as number) + 1;
  }
  return n;
}

export async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
