#!/usr/bin/env node
// Entry point. The agent is TypeScript; npm scripts and npx put the project's Node 24
// (devDependency `node`) first on PATH. scripts/setup.sh precompiles src/ to build/js/
// (scripts/build-js.ts): that build runs when it is fresh — no .ts file or directory
// under src/ newer than its stamp — so an edited checkout never runs stale code; else
// src/*.ts runs through Node's type stripping (Node >= 22.15), which costs ~20–30 MB
// RSS and about a second of CPU at start.
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 15)) {
  process.stderr.write(
    `ebpf-collector needs Node >= 22.15, this is ${process.version}. Run it through npm so the project's Node 24 is used:\n` +
      `  npx ebpf-collector …   or   npm start\n`,
  );
  process.exit(2);
}

// The agent (`run`, the default command) loads its BPF objects through libbpf, which
// parses the kernel's BTF for each: megabytes of malloc'd memory, freed after loading.
// glibc then raises its mmap and trim thresholds and keeps ~10–20 MB of freed heap for
// good. Fixed thresholds give it back; two arenas bound the per-thread ones. They are
// read at process start, so re-exec once (same pid, same stdio) with them set, unless
// the user set malloc tunables of their own.
const command = process.argv[2];
if (
  typeof process.execve === 'function' &&
  !['validate', 'print-config', 'schema', 'help', '--help', '-h', '--version', '-v'].includes(command) &&
  process.env.GLIBC_TUNABLES === undefined &&
  !Object.keys(process.env).some((k) => k.startsWith('MALLOC_'))
) {
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    ...process.env,
    MALLOC_ARENA_MAX: '2',
    MALLOC_MMAP_THRESHOLD_: '131072',
    MALLOC_TRIM_THRESHOLD_: '131072',
  });
}

// Keep V8's young generation at its initial 1 MiB semi-spaces: by default it grows to
// 16 MiB ones (32 MiB of RSS) for an agent that makes a few MB of garbage per scrape.
// Read when the new space would grow, so setting it at run time takes effect.
setFlagsFromString('--semi-space-growth-factor=1');

const src = new URL('../src/', import.meta.url);
const js = new URL('../build/js/', import.meta.url);

/** No source file (tests aside) or directory under `dir` is newer than `stamp` (ms). */
function unchangedSince(dir, stamp) {
  if (statSync(dir).mtimeMs > stamp) return false;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory()) {
      if (!unchangedSince(p, stamp)) return false;
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && statSync(p).mtimeMs > stamp) {
      return false;
    }
  }
  return true;
}

function freshBuild() {
  if (process.env.EBPF_COLLECTOR_FROM_SOURCE === '1') return false;
  try {
    return unchangedSince(fileURLToPath(src).replace(/\/$/, ''), statSync(new URL('.stamp', js)).mtimeMs);
  } catch {
    return false; // no build, or src/ unreadable: run the sources
  }
}

await import(freshBuild() ? new URL('src/cli.js', js).href : new URL('cli.ts', src).href);
