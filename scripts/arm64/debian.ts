/**
 * Debian's side of the arm64 build: the host packages (cross compiler, qemu-user-static), the
 * arm64 architecture in apt's sources, and the arm64 runtime and sysroot trees made from
 * Debian's arm64 packages with `apt-get download` + `dpkg-deb -x` — nothing is installed into
 * the host's dpkg database as arm64, so the host's own packages never depend on them.
 * Idempotent: a tree is remade only when a package's candidate version changed.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { CACHE_DIR, HOST_DEBS } from './layout.ts';

export type Log = (line: string) => void;

/** Runs a command; throws with the tail of its stderr unless it exits 0. Returns stdout. */
export function run(cmd: string, args: readonly string[], options: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    ...options,
  });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`, { cause: r.error });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}: ${r.stderr.trim().slice(-1500)}`);
  return r.stdout;
}

/** apt-get waiting for another apt/dpkg run's lock instead of failing at once. */
const APT = ['-o', 'DPkg::Lock::Timeout=600', '-o', 'APT::Sandbox::User=root'];

function installed(pkg: string): boolean {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

/** Candidate versions of arm64 packages in apt's lists (no network), `undefined` when apt has none. */
export function candidates(pkgs: readonly string[]): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>(pkgs.map((p) => [p, undefined]));
  const r = spawnSync('apt-cache', ['policy', ...pkgs.map((p) => `${p}:arm64`)], { encoding: 'utf8' });
  let cur: string | undefined;
  for (const line of (r.stdout ?? '').split('\n')) {
    const pkg = /^(\S+):arm64:$/.exec(line);
    if (pkg) cur = pkg[1];
    const cand = /^\s+Candidate:\s+(\S+)/.exec(line);
    if (cur && cand && cand[1] !== '(none)' && out.has(cur)) out.set(cur, cand[1]);
  }
  return out;
}

/**
 * The host's cross compiler and qemu-user-static installed, and arm64 in apt's architectures
 * with its package lists fetched (`dpkg --add-architecture arm64`, `apt-get update`). Returns the
 * candidate versions of the arm64 packages `pkgs` (apt reads all its lists for that: seconds).
 */
export function ensureHost(pkgs: readonly string[], log: Log): Map<string, string | undefined> {
  const missing = HOST_DEBS.filter((p) => !installed(p));
  const foreign = run('dpkg', ['--print-foreign-architectures']).split('\n');
  if (!foreign.includes('arm64')) {
    log('adding arm64 to dpkg architectures (dpkg --add-architecture arm64)');
    run('dpkg', ['--add-architecture', 'arm64']);
  }
  let versions = foreign.includes('arm64') ? candidates(pkgs) : undefined;
  const stale = !versions || [...versions.values()].includes(undefined);
  if (stale || missing.length) {
    log('apt-get update');
    run('apt-get', [...APT, 'update', '-qq']);
  }
  if (missing.length) {
    log(`installing Debian packages: ${missing.join(' ')}`);
    run('apt-get', [...APT, 'install', '-y', '-qq', '--no-install-recommends', ...missing]);
  }
  if (stale) versions = candidates(pkgs);
  const none = [...(versions ?? [])].filter(([, v]) => v === undefined).map(([p]) => p);
  if (!versions || none.length)
    throw new Error(
      `apt has no arm64 candidate for ${none.join(', ')}: are Debian's arm64 archives reachable?`,
    );
  return versions;
}

/** Absolute symlinks (zlib1g-dev's libz.so → /lib/...) made relative, so they resolve inside `root`. */
function relativizeLinks(root: string, dir = root): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) relativizeLinks(root, p);
    else if (e.isSymbolicLink()) {
      const target = readlinkSync(p);
      if (!target.startsWith('/')) continue;
      rmSync(p);
      symlinkSync(relative(dirname(p), join(root, target)) || '.', p);
    }
  }
}

/**
 * `dir` holds the files of the arm64 packages `pkgs` at `versions` (their candidates,
 * from ensureHost; stamp `dir/.debs`). Returns whether it was (re)made.
 */
export function ensureTree(
  dir: string,
  pkgs: readonly string[],
  versions: ReadonlyMap<string, string | undefined>,
  log: Log,
): boolean {
  const key = pkgs.map((p) => `${p}:arm64=${versions.get(p) ?? '?'}`).join('\n');
  const stamp = join(dir, '.debs');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === key) return false;
  const debs = join(CACHE_DIR, 'debs');
  mkdirSync(debs, { recursive: true });
  const want = pkgs.map((p) => `${p}:arm64=${versions.get(p) ?? ''}`);
  const have = new Set(readdirSync(debs));
  // apt-get download names a file PKG_VERSION_arm64.deb with the epoch's ':' as %3a.
  const file = (p: string): string => `${p}_${(versions.get(p) ?? '').replace(':', '%3a')}_arm64.deb`;
  const fetch = want.filter((_, i) => !have.has(file(pkgs[i] ?? '')));
  if (fetch.length) {
    log(`apt-get download ${fetch.join(' ')}`);
    run('apt-get', [...APT, 'download', '-qq', ...fetch], { cwd: debs });
  }
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const p of pkgs) {
    const deb = join(debs, file(p));
    if (!lstatSync(deb, { throwIfNoEntry: false })?.isFile())
      throw new Error(`apt-get download gave no ${deb}`);
    run('dpkg-deb', ['-x', deb, tmp]);
  }
  relativizeLinks(tmp);
  writeFileSync(join(tmp, '.debs'), key);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  // Older versions of these packages are of no further use.
  const current = new Set(pkgs.map(file));
  for (const f of readdirSync(debs)) {
    const pkg = f.split('_')[0] ?? '';
    if (pkgs.includes(pkg) && !current.has(f)) rmSync(join(debs, f));
  }
  log(`${dir}: ${pkgs.map((p) => `${p} ${versions.get(p)}`).join(', ')}`);
  return true;
}
