/**
 * Assembles the image's own files (deploy/image/manifest.ts `imageFiles`) from a built
 * checkout into a directory laid out like the image's root: `OUT/opt/ebpf-collector/...` and
 * `OUT/usr/local/bin/node` (debug info and symbol tables stripped: the dynamic symbols
 * the addon links against stay). Both builds use it: the Containerfile's build stage
 * (`COPY --from=build /out/ /`) and `npm run image` (scripts/image.ts).
 *
 * `--arch arm64` on an amd64 machine stages the cross-built binaries and objects instead
 * (deploy/image/manifest.ts `archOutputs`): the tree of the arm64 image.
 *
 *   node deploy/image/stage.ts [--arch amd64|arm64] OUT
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ARCHES,
  GNU_TRIPLET,
  NODE_MODULES_EXCLUDE,
  NODE_PATH,
  hostArch,
  imageFiles,
  repoRoot,
  type Arch,
} from './manifest.ts';

/** The build outputs an image for `arch` needs that this checkout lacks (nothing built yet). */
export function missingBuildOutputs(root = repoRoot, arch: Arch = hostArch()): string[] {
  return imageFiles(root, arch)
    .map((f) => f.from)
    .filter((rel) => !existsSync(join(root, rel)));
}

function keep(src: string, isModule: boolean): boolean {
  if (!isModule) return true;
  const name = basename(src);
  if (name === 'node_modules') return false;
  return !NODE_MODULES_EXCLUDE.some((re) => re.test(name));
}

/**
 * Copy every file of the image for `arch` from `root` into `out` (emptied first). Returns how
 * many entries were copied.
 */
export function stage(out: string, root = repoRoot, arch: Arch = hostArch()): number {
  const missing = missingBuildOutputs(root, arch);
  if (missing.length > 0) {
    const how =
      arch === hostArch() ? 'scripts/setup.sh' : `npm run build:${arch} and make -C bpf ARCH=${arch}`;
    throw new Error(
      `stage: ${missing.length} ${arch} build output(s) missing (run ${how} first): ${missing.slice(0, 5).join(', ')}`,
    );
  }
  rmSync(out, { recursive: true, force: true });
  const files = imageFiles(root, arch);
  // The host's binutils strip the host's binaries; another architecture's need its cross binutils.
  const strip = arch === hostArch() ? 'strip' : `${GNU_TRIPLET[arch]}-strip`;
  for (const f of files) {
    const dest = join(out, f.to);
    mkdirSync(dirname(dest), { recursive: true });
    const isModule = f.from.startsWith('node_modules/');
    if (f.to === NODE_PATH) {
      execFileSync(strip, ['--strip-all', '-o', dest, join(root, f.from)]);
      continue;
    }
    const top = join(root, f.from);
    cpSync(top, dest, {
      recursive: true,
      preserveTimestamps: true,
      // The package's own folder is always copied; below it, nested node_modules and excluded names are not.
      filter: (src) => src === top || keep(src, isModule),
    });
  }
  return files.length;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const { values, positionals } = parseArgs({
    options: { arch: { type: 'string' } },
    allowPositionals: true,
  });
  const out = positionals[0];
  const arch = values.arch ?? hostArch();
  if (!out || positionals.length > 1 || !(ARCHES as readonly string[]).includes(arch)) {
    process.stderr.write(`usage: node deploy/image/stage.ts [--arch ${ARCHES.join('|')}] OUT\n`);
    process.exit(2);
  }
  try {
    const n = stage(resolve(out), repoRoot, arch as Arch);
    process.stdout.write(`[stage] ${n} files and trees into ${out}\n`);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
}
