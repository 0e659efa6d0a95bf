#!/usr/bin/env node
// Entry point. The agent is TypeScript; npm scripts and npx put the project's Node 24
// (devDependency `node`) first on PATH. scripts/setup.sh precompiles src/ to build/js/
// (scripts/build-js.ts): that build runs when it is fresh — no .ts file or directory
// under src/ newer than its stamp — so an edited checkout never runs stale code; else
// src/*.ts runs through Node's type stripping (Node >= 22.15), which costs ~20–30 MB
// RSS and about a second of CPU at start.
// Signals from the first line on: until the CLI takes them over (src/signals.ts), a
// SIGTERM, SIGINT or SIGHUP is recorded here and handled once it does. Without a
// handler Node dies of SIGTERM (143) mid-start, and as PID 1 it ignores it.
{
  const signals = [];
  const record = (s) => signals.push(s);
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, record);
  globalThis[Symbol.for('ebpf-collector.early-signals')] = {
    signals,
    release: () => ['SIGTERM', 'SIGINT', 'SIGHUP'].forEach((s) => process.off(s, record)),
  };
}

import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 15)) {
  process.stderr.write(
    `ebpf-collector needs Node >= 22.15, this is ${process.version}. Run it through npm so the project's Node 24 is used:\n` +
      `  npx ebpf-collector …   or   npm start\n`,
  );
  process.exit(2);
}

// glibc malloc is tuned at run time by the agent itself (tuneMalloc in src/native):
// environment tunables would be read once at process start and would slow every BPF
// object load (see there), and setting them here would cost a re-exec of Node.

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
  // An installed copy without sources (the container image) runs its build.
  if (!existsSync(src)) return true;
  try {
    return unchangedSince(fileURLToPath(src).replace(/\/$/, ''), statSync(new URL('.stamp', js)).mtimeMs);
  } catch {
    return false; // no build, or src/ unreadable: run the sources
  }
}

const fresh = freshBuild();
const module = (name) => (fresh ? new URL(`src/${name}.js`, js) : new URL(`${name}.ts`, src)).href;
// Before the agent's modules load: V8's new space, once grown, stays grown (src/young-generation.ts).
(await import(module('young-generation'))).tuneYoungGeneration();
await import(module('cli'));
