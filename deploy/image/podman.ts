/**
 * Running podman and buildah on this machine kind (measured, ../shared/reference/containers.md):
 * Debian 12's podman defaults to crun, which refuses here ("cgroups in hybrid mode not
 * supported"), so runc and the cgroupfs manager are passed to every podman call.
 */
import { spawnSync } from 'node:child_process';

export const PODMAN_GLOBAL_FLAGS: readonly string[] = ['--runtime', 'runc', '--cgroup-manager=cgroupfs'];

/**
 * `podman run` flags this VM needs whatever the pod says: podman's default ulimits exceed the
 * VM's hard limits ("setrlimit RLIMIT_NOFILE: Operation not permitted").
 */
export const HOST_RUN_FLAGS: readonly string[] = [
  '--ulimit',
  'nofile=1024:1024',
  '--ulimit',
  'nproc=1024:1024',
];

/** Debian packages (each the command of its name) the local image build and the podman tests need. */
export const CONTAINER_TOOLS: readonly string[] = ['mmdebstrap', 'buildah', 'podman', 'runc'];

export interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(cmd: string, args: readonly string[], input?: string): Run {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    ...(input !== undefined ? { input } : {}),
  });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`, { cause: r.error });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function check(cmd: string, args: readonly string[], r: Run): string {
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}: ${r.stderr.trim().slice(-2000)}`);
  return r.stdout;
}

/** `podman <global flags> ARGS`, whatever its exit status. */
export function podmanRun(args: readonly string[]): Run {
  return run('podman', [...PODMAN_GLOBAL_FLAGS, ...args]);
}

/** `podman <global flags> ARGS`; throws with podman's stderr unless it exits 0. */
export function podman(args: readonly string[]): string {
  return check('podman', args, podmanRun(args));
}

/** `buildah ARGS`; throws with buildah's stderr unless it exits 0. */
export function buildah(args: readonly string[]): string {
  return check('buildah', args, run('buildah', args));
}

/** Which of the tools are not on PATH. */
export function missingTools(): string[] {
  return CONTAINER_TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
}

/**
 * Installs the missing tools from Debian (as scripts/setup.sh installs its packages).
 * Returns why they cannot be had, or undefined when all are there.
 */
export function ensureTools(log: (line: string) => void = () => {}): string | undefined {
  const missing = missingTools();
  if (missing.length === 0) return undefined;
  log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = ['-o', 'DPkg::Lock::Timeout=600'];
  const upd = spawnSync('apt-get', [...lock, 'update', '-qq'], { encoding: 'utf8', env });
  const inst = spawnSync(
    'apt-get',
    [...lock, 'install', '-y', '-qq', '--no-install-recommends', ...missing],
    {
      encoding: 'utf8',
      env,
    },
  );
  const still = missingTools();
  if (still.length === 0) return undefined;
  const why = (inst.error?.message ?? inst.stderr ?? upd.stderr ?? '').trim().split('\n').slice(-3).join(' ');
  return `cannot install ${still.join(', ')} with apt-get: ${why || `exit ${inst.status}`}`;
}
