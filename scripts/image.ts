/**
 * `npm run image`: builds the agent's container image on this machine, without a registry or
 * a container engine daemon, with the content deploy/image/manifest.ts describes (the
 * Containerfile says the same for machines that have both):
 *
 *   1. root filesystem: Debian `bookworm` (essential packages + the manifest's runtime
 *      packages, dpkg trimmed by deploy/image/dpkg-trim.cfg) made by mmdebstrap, imported
 *      as `localhost/ebpf-collector-base:<key>`; cached by its inputs under build/image/;
 *   2. the agent's files staged from this built checkout (deploy/image/stage.ts);
 *   3. one layer on top with buildah, configured (entrypoint, command, user, labels, port)
 *      and committed as `localhost/ebpf-collector:<package version>` into podman's storage;
 *   4. an OCI archive of it: build/image/ebpf-collector-<version>.oci.tar.
 *
 * Idempotent: when neither the base's inputs nor the staged files' sources changed and the
 * image is still in podman's storage, it only says so. Needs root; installs mmdebstrap,
 * buildah, podman and runc from Debian when missing.
 *
 *   node scripts/image.ts [--force]
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
import {
  CMD,
  DEBIAN_SUITE,
  DPKG_TRIM_FILE,
  ENTRYPOINT,
  IMAGE_NAME,
  IMAGE_REF,
  IMAGE_VERSION,
  LABELS,
  PORT,
  RUNTIME_PACKAGES,
  USER,
  WORKDIR,
  imageFiles,
  repoRoot,
} from '../deploy/image/manifest.ts';
import { stage } from '../deploy/image/stage.ts';
import { buildah, ensureTools, podman, podmanRun } from '../deploy/image/podman.ts';

export const IMAGE_DIR = join(repoRoot, 'build', 'image');
export const ARCHIVE = join(IMAGE_DIR, `ebpf-collector-${IMAGE_VERSION}.oci.tar`);
const STAMP = join(IMAGE_DIR, 'image.json');

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
export function baseKey(): string {
  const trim = readFileSync(join(repoRoot, DPKG_TRIM_FILE), 'utf8');
  return sha(['essential', 'merged-usr', DEBIAN_SUITE, ...MIRRORS, ...RUNTIME_PACKAGES, trim]).slice(0, 16);
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
export async function imageKey(): Promise<string> {
  const parts: string[] = [baseKey(), JSON.stringify({ ENTRYPOINT, CMD, USER, WORKDIR, LABELS, PORT })];
  parts.push(readFileSync(join(repoRoot, 'deploy/image/stage.ts'), 'utf8'));
  for (const f of imageFiles()) {
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

/** The base image (Debian root filesystem), built when its inputs changed. */
function ensureBase(): string {
  const key = baseKey();
  const ref = `${IMAGE_NAME}-base:${key}`;
  if (imageId(ref)) return ref;
  const tar = join(IMAGE_DIR, `rootfs-${key}.tar`);
  if (!existsSync(tar)) {
    say(
      `root filesystem: mmdebstrap ${DEBIAN_SUITE} + ${RUNTIME_PACKAGES.join(' ')} (about a minute or two)`,
    );
    const tmp = `${tar}.tmp`;
    rmSync(tmp, { force: true });
    const r = spawnSync(
      'mmdebstrap',
      [
        '--quiet',
        '--variant=essential',
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
    for (const old of readdirSync(IMAGE_DIR))
      if (/^rootfs-.*\.tar$/.test(old) && join(IMAGE_DIR, old) !== tar) rmSync(join(IMAGE_DIR, old));
  }
  say(`importing the root filesystem as ${ref}`);
  podman(['import', '--quiet', tar, ref]);
  // Earlier bases (other keys) are of no further use; one still used by an image stays.
  const bases = podman(['images', '--format', '{{.Repository}}:{{.Tag}}', `${IMAGE_NAME}-base`]).split('\n');
  for (const old of bases) if (old.startsWith(`${IMAGE_NAME}-base:`) && old !== ref) podmanRun(['rmi', old]);
  return ref;
}

interface Stamp {
  key: string;
  id: string;
}

function readStamp(): Stamp | undefined {
  try {
    return JSON.parse(readFileSync(STAMP, 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
}

/** Builds (or finds up to date) the image; returns its id. */
export async function buildImage(options: { force?: boolean } = {}): Promise<string> {
  if (process.getuid?.() !== 0)
    throw new Error('npm run image must run as root (mmdebstrap, podman storage)');
  const why = ensureTools(say);
  if (why) throw new Error(why);
  mkdirSync(IMAGE_DIR, { recursive: true });
  const key = await imageKey();
  const stamp = readStamp();
  const current = imageId(IMAGE_REF);
  if (!options.force && stamp?.key === key && current === stamp.id && existsSync(ARCHIVE)) {
    say(`${IMAGE_REF} is up to date (${current.slice(0, 12)})`);
    return current;
  }
  const base = ensureBase();
  const root = join(IMAGE_DIR, 'root');
  say(`staging the agent's files into ${root}`);
  stage(root);

  const ctr = buildah(['from', '--quiet', '--pull-never', base]).trim();
  try {
    buildah(['copy', '--quiet', ctr, `${root}/`, '/']);
    const config = [
      ['--entrypoint', JSON.stringify(ENTRYPOINT)],
      ['--cmd', JSON.stringify(CMD)],
      ['--user', USER],
      ['--workingdir', WORKDIR],
      ['--port', PORT],
      ...Object.entries(LABELS).map(([k, v]) => ['--label', `${k}=${v}`]),
    ].flat();
    buildah(['config', ...config, ctr]);
    buildah(['commit', '--quiet', '--identity-label=false', '--rm', ctr, IMAGE_REF]);
  } catch (err) {
    spawnSync('buildah', ['rm', ctr]);
    throw err;
  }
  const id = imageId(IMAGE_REF);
  if (!id) throw new Error(`${IMAGE_REF} not found in podman's storage after commit`);
  // The image this one replaced, if nothing else uses it.
  if (current && current !== id) podmanRun(['rmi', current]);

  say(`writing ${ARCHIVE}`);
  rmSync(ARCHIVE, { force: true });
  podman(['save', '--quiet', '--format', 'oci-archive', '--output', ARCHIVE, IMAGE_REF]);
  writeFileSync(STAMP, `${JSON.stringify({ key, id } satisfies Stamp)}\n`);
  rmSync(root, { recursive: true, force: true });
  return id;
}

/** Size of the image in podman's storage (bytes, uncompressed). */
export function imageSize(ref = IMAGE_REF): number {
  return Number(podman(['image', 'inspect', '--format', '{{.Size}}', ref]).trim());
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  try {
    const id = await buildImage({ force: process.argv.includes('--force') });
    const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
    say(
      `${IMAGE_REF} ${id.slice(0, 12)}: ${mb(imageSize())}; OCI archive ${ARCHIVE} ${mb(statSync(ARCHIVE).size)}`,
    );
  } catch (err) {
    say((err as Error).message);
    process.exit(1);
  }
}
