/**
 * The locally built image for tests that need it: built by scripts/image.ts when missing or
 * stale (a cold build takes about 1.5–4 minutes, mostly mmdebstrap; an up-to-date check
 * about 5–15 s), after installing podman and friends from Debian when missing.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostArch, imageRef, type Arch } from '../../deploy/image/manifest.ts';
import { ensureTools } from '../../deploy/image/podman.ts';
import { buildImage } from '../../scripts/image.ts';

export interface TestImage {
  readonly ref: string;
  readonly id: string;
}

/**
 * The image for `arch` (default: this machine's), or the reason tests that need it must skip
 * (only: the container tools cannot be installed).
 */
export async function testImage(arch: Arch = hostArch()): Promise<TestImage | { skip: string }> {
  const why = ensureTools((line) => process.stderr.write(`[image] ${line}\n`));
  if (why) return { skip: `podman cannot be installed here: ${why}` };
  const id = await buildImage({ arch });
  return { ref: imageRef(arch), id };
}

/** Relative path → size (-1 for directories, -2 for symlinks) of every entry under `dir`. */
export function tree(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const rel of readdirSync(dir, { recursive: true }) as string[]) {
    const st = lstatSync(join(dir, rel));
    out.set(rel, st.isDirectory() ? -1 : st.isSymbolicLink() ? -2 : st.size);
  }
  return out;
}

/** Installed packages of a root filesystem, from dpkg's status file. */
export function installedPackages(root: string): Set<string> {
  const status = readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8');
  const names = new Set<string>();
  for (const block of status.split(/\n\n+/)) {
    const name = /^Package: (\S+)$/m.exec(block)?.[1];
    if (name && /^Status: install ok installed$/m.test(block)) names.add(name);
  }
  return names;
}
