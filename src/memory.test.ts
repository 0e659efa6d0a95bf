/**
 * memory.ts: the full collection after start, the periodic malloc trim, the steady malloc
 * phase and the executable's pages unmapped after start, observed in child processes (all
 * are process-wide).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runModuleJson } from '../test/helpers/module-child.ts';

const MODULE = JSON.stringify(new URL('./memory.ts', import.meta.url).href);
const NATIVE = JSON.stringify(new URL('./native/index.ts', import.meta.url).href);

const runChild = (code: string, env: Record<string, string> = {}): Record<string, unknown> =>
  runModuleJson(code, { env, timeoutMs: 60_000 });

test('collectGarbage frees unreachable objects and shrinks the heap; the global gets no gc', () => {
  const out = runChild(`
import { collectGarbage } from ${MODULE};
let keep = [];
for (let i = 0; i < 300_000; i++) keep.push({ i, s: 'x' + i });
keep = null;
const before = process.memoryUsage();
collectGarbage();
collectGarbage();
const after = process.memoryUsage();
process.stdout.write(JSON.stringify({ before, after, gc: typeof globalThis.gc }));
`);
  const MiB = 2 ** 20;
  const before = out.before as NodeJS.MemoryUsage;
  const after = out.after as NodeJS.MemoryUsage;
  assert.ok(before.heapUsed - after.heapUsed > 10 * MiB, `heapUsed ${before.heapUsed} → ${after.heapUsed}`);
  assert.ok(after.heapTotal < before.heapTotal, `heapTotal ${before.heapTotal} → ${after.heapTotal}`);
  assert.equal(out.gc, 'undefined');
});

// Buffers of 16–64 KiB come from the main heap (below the 128 KiB mmap threshold); keeping
// every fourth pins the heap's top, so free() alone gives none of the rest back.
const FRAGMENT = `
import { readFileSync } from 'node:fs';
import { tuneMalloc, trimMalloc } from ${NATIVE};
const anonKiB = () => Number(/RssAnon:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
tuneMalloc('steady');
let all = [];
for (let i = 0; i < 3000; i++) all.push(Buffer.alloc(16384 + (i % 8) * 6144, 1));
const kept = all.filter((_, i) => i % 4 === 0);
all = null;
const { collectGarbage } = await import(${MODULE});
collectGarbage();
await new Promise((r) => setTimeout(r, 500)); // array buffers are freed after the collection
const freed = anonKiB();
const trimmed = trimMalloc();
process.stdout.write(JSON.stringify({ freed, after: anonKiB(), trimmed, kept: kept.length }));
`;

test('trimMalloc hands free pages below live chunks back to the kernel', () => {
  const out = runChild(FRAGMENT);
  assert.equal(out.trimmed, true);
  const freed = out.freed as number;
  const after = out.after as number;
  assert.ok(freed - after > 40 * 1024, `RssAnon ${freed} kB → ${after} kB after trimming (~80 MB freed)`);
});

test("trimMalloc leaves a user's MALLOC_* or GLIBC_TUNABLES settings alone", () => {
  const envs: Record<string, string>[] = [
    { MALLOC_ARENA_MAX: '4' },
    { GLIBC_TUNABLES: 'glibc.malloc.arena_max=4' },
  ];
  for (const env of envs) {
    assert.equal(runChild(FRAGMENT, env).trimmed, false, JSON.stringify(env));
  }
});

test('settleMemory keeps no process alive and stops on request', () => {
  const out = runChild(`
import { settleMemory } from ${MODULE};
const stop = settleMemory();
stop();
stop();
process.stdout.write(JSON.stringify({ ok: true }));
`);
  assert.equal(out.ok, true);
  const started = Date.now();
  runChild(`import { settleMemory } from ${MODULE}; settleMemory(); process.stdout.write('{}');`);
  assert.ok(Date.now() - started < 30_000, 'exits without waiting for the timers');
});

test('settleMemory leaves malloc in its steady phase and unmaps the executable’s clean pages after SETTLE_MS', () => {
  const out = runChild(`
import { readFileSync, realpathSync } from 'node:fs';
import { settleMemory, SETTLE_MS } from ${MODULE};
import { mallocStats, tuneMalloc } from ${NATIVE};
const exe = realpathSync('/proc/self/exe');
const exeKiB = () => {
  let mine = false;
  let kib = 0;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\\S+) \\S+ \\S+ \\S+\\s*(.*)$/.exec(line);
    if (head) mine = head[2] === exe && head[1][1] !== 'w';
    const rss = /^Rss:\\s+(\\d+) kB/.exec(line);
    if (mine && rss) kib += Number(rss[1]);
  }
  return kib;
};
const before = exeKiB();
tuneMalloc('startup'); // as startAgent: large buffers stay in the heap until settleMemory
const stop = settleMemory();
const mmapped0 = mallocStats().mmappedBytes;
const keep = Buffer.alloc(8 << 20, 1); // steady phase: 8 MiB is mapped on its own
const mmapped = mallocStats().mmappedBytes - mmapped0;
await new Promise((r) => setTimeout(r, SETTLE_MS + 500));
stop();
process.stdout.write(JSON.stringify({ before, after: exeKiB(), mmapped, kept: keep.length }));
`);
  const before = out.before as number;
  const after = out.after as number;
  assert.ok((out.mmapped as number) >= 8 << 20, `8 MiB mapped on its own (${String(out.mmapped)} bytes)`);
  assert.ok(before > 8 * 1024 && after < before / 2, `executable resident ${before} → ${after} kB`);
});
