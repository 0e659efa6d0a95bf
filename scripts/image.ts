/**
 * `npm run image`: builds the agent's container image on this machine, without a registry or
 * a container engine daemon, with the content deploy/image/manifest.ts describes (the
 * Containerfile says the same for machines that have both), for this machine's architecture
 * or, with `--arch arm64`, for arm64:
 *
 *   1. root filesystem: Debian `bookworm` for the architecture (essential packages + the
 *      manifest's runtime packages, dpkg trimmed by deploy/image/dpkg-trim.cfg) made by
 *      mmdebstrap — another architecture's maintainer scripts run under qemu-user-static
 *      through binfmt_misc — imported as `localhost/ebpf-collector-base:<key>`; cached by its
 *      inputs under build/image/;
 *   2. the agent's files staged from this built checkout (deploy/image/stage.ts); for arm64
 *      the cross build first (`npm run build:arm64`, `make -C bpf ARCH=arm64`);
 *   3. one layer on top with buildah, configured (entrypoint, command, user, labels, port,
 *      architecture) and committed as `localhost/ebpf-collector:<version>-<arch>`;
 *   4. the manifest list `localhost/ebpf-collector:<version>` over the architectures' images
 *      in podman's storage, and an OCI archive of it with every image:
 *      build/image/ebpf-collector-<version>.oci.tar.
 *
 * Idempotent: when neither the base's inputs nor the staged files' sources changed and the
 * image is still in podman's storage, it only says so. Needs root; installs mmdebstrap,
 * buildah, podman and runc from Debian when missing.
 *
 *   node scripts/image.ts [--arch amd64|arm64] [--force]
 */
import { createHash } from 'node:crypto';
import {
  createReadStream,
  readdirSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import {
  ARCHES,
  CMD,
  DEBIAN_SUITE,
  DPKG_TRIM_FILE,
  ENTRYPOINT,
  IMAGE_NAME,
  IMAGE_REF,
  IMAGE_VERSION,
  LABELS,
  type Arch,
  PORT,
  RUNTIME_PACKAGES,
  USER,
  WORKDIR,
  hostArch,
  imageFiles,
  imageRef,
  repoRoot,
} from '../deploy/image/manifest.ts';
import { stage } from '../deploy/image/stage.ts';
import { buildah, ensureTools, podman, podmanRun } from '../deploy/image/podman.ts';
import { buildArm64 } from './arm64/build.ts';

export const IMAGE_DIR = join(repoRoot, 'build', 'image');
/** The OCI archive of the manifest list: an image index with every architecture's image. */
export const ARCHIVE = join(IMAGE_DIR, `ebpf-collector-${IMAGE_VERSION}.oci.tar`);
const stampFile = (arch: Arch): string => join(IMAGE_DIR, `image-${arch}.json`);
const LIST_STAMP = join(IMAGE_DIR, 'manifest-list.json');

/** Debian archives the root filesystem comes from (security updates included). */
const MIRRORS = [
  `deb http://deb.debian.org/debian ${DEBIAN_SUITE} main`,
  `deb http://deb.debian.org/debian ${DEBIAN_SUITE}-updates main`,
  `deb http://deb.debian.org/debian-security ${DEBIAN_SUITE}-security main`,
];

const say = (line: string): void => {
  process.stderr.write(`[image] ${line}\n`);
};

function sha(parts: readonly (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex');
}

/** Key of the base layer: what goes into mmdebstrap. */
export function baseKey(arch: Arch = hostArch()): string {
  const trim = readFileSync(join(repoRoot, DPKG_TRIM_FILE), 'utf8');
  // The host architecture's key is what it was before there were two (its base stays valid).
  const archPart = arch === 'amd64' ? [] : [`arch=${arch}`];
  return sha([
    'essential',
    'merged-usr',
    DEBIAN_SUITE,
    ...MIRRORS,
    ...RUNTIME_PACKAGES,
    trim,
    ...archPart,
  ]).slice(0, 16);
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every regular file under `path` (or `path` itself), sorted. */
async function filesUnder(path: string): Promise<string[]> {
  if (!statSync(path).isDirectory()) return [path];
  const entries = await readdir(path, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Key of the whole image: the base, the configuration and every source file the stage copies. */
export async function imageKey(arch: Arch = hostArch()): Promise<string> {
  const parts: string[] = [
    baseKey(arch),
    JSON.stringify({ ENTRYPOINT, CMD, USER, WORKDIR, LABELS, PORT, arch }),
  ];
  for (const f of ['deploy/image/stage.ts', 'deploy/image/manifest.ts'])
    parts.push(readFileSync(join(repoRoot, f), 'utf8'));
  for (const f of imageFiles(repoRoot, arch)) {
    for (const file of await filesUnder(join(repoRoot, f.from))) {
      const st = statSync(file);
      parts.push(`${f.to} ${file} ${st.mode} ${await hashFile(file)}`);
    }
  }
  return sha(parts);
}

function imageId(ref: string): string | undefined {
  const r = podmanRun(['image', 'inspect', '--format', '{{.Id}}', ref]);
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Why mmdebstrap cannot run another architecture's maintainer scripts here, or undefined. */
function foreignArchProblem(arch: Arch): string | undefined {
  if (arch === hostArch()) return undefined;
  const entry = `/proc/sys/fs/binfmt_misc/qemu-${arch === 'arm64' ? 'aarch64' : 'x86_64'}`;
  try {
    if (readFileSync(entry, 'utf8').startsWith('enabled')) return undefined;
  } catch {
    // not registered
  }
  return `${entry} is not registered and enabled: install qemu-user-static (its binfmt_misc handlers; mount binfmt_misc first: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc)`;
}

/** The base image (Debian root filesystem), built when its inputs changed. */
function ensureBase(arch: Arch): string {
  const key = baseKey(arch);
  const ref = `${IMAGE_NAME}-base:${key}`;
  if (imageId(ref)) return ref;
  const tar = join(IMAGE_DIR, `rootfs-${key}.tar`);
  if (!existsSync(tar)) {
    const why = foreignArchProblem(arch);
    if (why) throw new Error(why);
    say(
      `root filesystem: mmdebstrap ${DEBIAN_SUITE} ${arch} + ${RUNTIME_PACKAGES.join(' ')} (${arch === hostArch() ? 'about a minute or two' : 'several minutes: maintainer scripts under qemu-user'})`,
    );
    const tmp = `${tar}.tmp`;
    rmSync(tmp, { force: true });
    const r = spawnSync(
      'mmdebstrap',
      [
        '--quiet',
        '--variant=essential',
        `--architectures=${arch}`,
        '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
        `--dpkgopt=${join(repoRoot, DPKG_TRIM_FILE)}`,
        `--include=${RUNTIME_PACKAGES.join(',')}`,
        // apt's lists and caches are not part of the image
        '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/apt "$1"/var/log/dpkg.log',
        '--format=tar',
        DEBIAN_SUITE,
        tmp,
        ...MIRRORS,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    if (r.status !== 0) throw new Error(`mmdebstrap failed (exit ${r.status}); see its output above`);
    renameSync(tmp, tar);
  }
  // Earlier root filesystems and bases (other keys) are of no further use; one still used by an
  // image stays. Every architecture's current base is kept.
  const current = new Set(ARCHES.map((a) => baseKey(a)));
  for (const old of readdirSync(IMAGE_DIR)) {
    const m = /^rootfs-(.*)\.tar$/.exec(old);
    if (m && !current.has(m[1] ?? '')) rmSync(join(IMAGE_DIR, old));
  }
  say(`importing the root filesystem as ${ref}`);
  podman(['import', '--quiet', '--arch', arch, '--os', 'linux', tar, ref]);
  const bases = podman(['images', '--format', '{{.Repository}}:{{.Tag}}', `${IMAGE_NAME}-base`]).split('\n');
  for (const old of bases)
    if (old.startsWith(`${IMAGE_NAME}-base:`) && !current.has(old.slice(`${IMAGE_NAME}-base:`.length)))
      podmanRun(['rmi', old]);
  return ref;
}

interface Stamp {
  key: string;
  id: string;
}

function readStamp(file: string): Stamp | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
}

/**
 * What an image for another architecture needs built first: its addon, init and Node
 * (scripts/arm64/build.ts) and its BPF objects (`make -C bpf ARCH=<arch>` into build/bpf-<arch>).
 */
function crossBuild(arch: Arch): void {
  if (arch === hostArch()) return;
  if (arch !== 'arm64') throw new Error(`no cross build for ${arch} on ${hostArch()}`);
  buildArm64(say);
  say(`make -C bpf ARCH=${arch}`);
  const r = spawnSync('make', ['-s', '-C', join(repoRoot, 'bpf'), `ARCH=${arch}`], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0)
    throw new Error(`make -C bpf ARCH=${arch} failed (exit ${r.status}); see its output above`);
}

/** Builds (or finds up to date) the image for `arch` (default: this machine's); returns its id. */
export async function buildImage(options: { force?: boolean; arch?: Arch } = {}): Promise<string> {
  if (process.getuid?.() !== 0)
    throw new Error('npm run image must run as root (mmdebstrap, podman storage)');
  const arch = options.arch ?? hostArch();
  const ref = imageRef(arch);
  const why = ensureTools(say);
  if (why) throw new Error(why);
  mkdirSync(IMAGE_DIR, { recursive: true });
  crossBuild(arch);
  const key = await imageKey(arch);
  const stampPath = stampFile(arch);
  const stamp = readStamp(stampPath);
  const current = imageId(ref);
  if (!options.force && stamp?.key === key && current === stamp.id) {
    say(`${ref} is up to date (${current.slice(0, 12)})`);
    ensureManifestList();
    return current;
  }
  const base = ensureBase(arch);
  const root = join(IMAGE_DIR, `root-${arch}`);
  say(`staging the agent's ${arch} files into ${root}`);
  stage(root, repoRoot, arch);

  const ctr = buildah(['from', '--quiet', '--pull-never', '--arch', arch, base]).trim();
  try {
    buildah(['copy', '--quiet', ctr, `${root}/`, '/']);
    const config = [
      ['--entrypoint', JSON.stringify(ENTRYPOINT)],
      ['--cmd', JSON.stringify(CMD)],
      ['--user', USER],
      ['--workingdir', WORKDIR],
      ['--port', PORT],
      ['--arch', arch],
      ['--os', 'linux'],
      ...Object.entries(LABELS).map(([k, v]) => ['--label', `${k}=${v}`]),
    ].flat();
    buildah(['config', ...config, ctr]);
    buildah(['commit', '--quiet', '--identity-label=false', '--rm', ctr, ref]);
  } catch (err) {
    spawnSync('buildah', ['rm', ctr]);
    throw err;
  }
  const id = imageId(ref);
  if (!id) throw new Error(`${ref} not found in podman's storage after commit`);
  // The image this one replaced, if nothing else uses it.
  if (current && current !== id) podmanRun(['rmi', current]);
  writeFileSync(stampPath, `${JSON.stringify({ key, id } satisfies Stamp)}\n`);
  rmSync(root, { recursive: true, force: true });
  ensureManifestList();
  return id;
}

/**
 * The manifest list IMAGE_REF over every architecture's image in podman's storage, and its OCI
 * archive (an image index with those images); remade when an image changed.
 */
export function ensureManifestList(): void {
  const images = ARCHES.map((arch) => ({ arch, ref: imageRef(arch), id: imageId(imageRef(arch)) })).filter(
    (i): i is { arch: Arch; ref: string; id: string } => i.id !== undefined,
  );
  const want = JSON.stringify(images.map(({ arch, id }) => ({ arch, id })));
  const isList = podmanRun(['manifest', 'exists', IMAGE_REF]).status === 0;
  let have: string | undefined;
  try {
    have = readFileSync(LIST_STAMP, 'utf8').trim();
  } catch {
    // none yet
  }
  if (isList && have === want && existsSync(ARCHIVE)) return;
  if (isList) podman(['manifest', 'rm', IMAGE_REF]);
  // Before there were two architectures IMAGE_REF named the host's image: take the name back.
  else if (imageId(IMAGE_REF)) podman(['untag', IMAGE_REF, IMAGE_REF]);
  podman(['manifest', 'create', IMAGE_REF]);
  for (const i of images) podman(['manifest', 'add', IMAGE_REF, `containers-storage:${i.ref}`]);
  say(`manifest list ${IMAGE_REF}: ${images.map((i) => i.arch).join(', ')}; writing ${ARCHIVE}`);
  rmSync(ARCHIVE, { force: true });
  podman(['manifest', 'push', '--quiet', '--all', '--format', 'oci', IMAGE_REF, `oci-archive:${ARCHIVE}`]);
  writeFileSync(LIST_STAMP, `${want}\n`);
}

/** Size of an image in podman's storage (bytes, uncompressed). */
export function imageSize(ref = imageRef(hostArch())): number {
  return Number(podman(['image', 'inspect', '--format', '{{.Size}}', ref]).trim());
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  try {
    const { values } = parseArgs({
      options: { arch: { type: 'string', default: hostArch() }, force: { type: 'boolean', default: false } },
    });
    if (!(ARCHES as readonly string[]).includes(values.arch))
      throw new Error(`--arch ${values.arch}: one of ${ARCHES.join(', ')}`);
    const arch = values.arch as Arch;
    const t0 = performance.now();
    const id = await buildImage({ force: values.force, arch });
    const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
    say(
      `${imageRef(arch)} ${id.slice(0, 12)}: ${mb(imageSize(imageRef(arch)))} (${((performance.now() - t0) / 1000).toFixed(0)} s); manifest list ${IMAGE_REF}; OCI archive ${ARCHIVE} ${mb(statSync(ARCHIVE).size)}`,
    );
  } catch (err) {
    say((err as Error).message);
    process.exit(1);
  }
}
