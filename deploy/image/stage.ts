/**
 * Assembles the image's own files (deploy/image/manifest.ts `imageFiles`) from a built
 * checkout into a directory laid out like the image's root: `OUT/opt/ebpf-collector/...` and
 * `OUT/usr/local/bin/node` (debug info and symbol tables stripped: the dynamic symbols
 * the addon links against stay). Both builds use it: the Containerfile's build stage
 * (`COPY --from=build /out/ /`) and `npm run image` (scripts/image.ts).
 *
 *   node deploy/image/stage.ts OUT
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { NODE_MODULES_EXCLUDE, NODE_PATH, imageFiles, repoRoot } from './manifest.ts';

/** Why a checkout cannot be staged (nothing built yet), or undefined. */
export function missingBuildOutputs(root = repoRoot): string[] {
  return imageFiles(root)
    .map((f) => f.from)
    .filter((rel) => !existsSync(join(root, rel)));
}

function keep(src: string, isModule: boolean): boolean {
  if (!isModule) return true;
  const name = basename(src);
  if (name === 'node_modules') return false;
  return !NODE_MODULES_EXCLUDE.some((re) => re.test(name));
}

/** Copy every image file from `root` into `out` (emptied first). Returns how many entries were copied. */
export function stage(out: string, root = repoRoot): number {
  const missing = missingBuildOutputs(root);
  if (missing.length > 0)
    throw new Error(
      `stage: ${missing.length} build output(s) missing (run scripts/setup.sh first): ${missing.slice(0, 5).join(', ')}`,
    );
  rmSync(out, { recursive: true, force: true });
  const files = imageFiles(root);
  for (const f of files) {
    const dest = join(out, f.to);
    mkdirSync(dirname(dest), { recursive: true });
    const isModule = f.from.startsWith('node_modules/');
    if (f.to === NODE_PATH) {
      execFileSync('strip', ['--strip-all', '-o', dest, join(root, f.from)]);
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
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: node deploy/image/stage.ts OUT\n');
    process.exit(2);
  }
  try {
    const n = stage(resolve(out));
    process.stdout.write(`[stage] ${n} files and trees into ${out}\n`);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
}
