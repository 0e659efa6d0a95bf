/**
 * tuneMalloc: the agent's two glibc malloc phases, observed through mallinfo2 in
 * a child process (the thresholds are process-wide and would slow this test
 * process's own loads). Node allocates Buffer memory with calloc, so a large
 * Buffer shows where malloc put it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runModuleJson } from '../../test/helpers/module-child.ts';

const CHILD = `
import { mallocStats, tuneMalloc } from ${JSON.stringify(new URL('./index.ts', import.meta.url).href)};
const MiB = 1024 * 1024;
const keep = [];
const grow = () => {
  const before = mallocStats();
  keep.push(Buffer.alloc(8 * MiB, 1));
  const after = mallocStats();
  return { heap: after.heapBytes - before.heapBytes, mmapped: after.mmappedBytes - before.mmappedBytes };
};
const out = { startup: tuneMalloc('startup') };
out.startupAlloc = grow();
out.steady = tuneMalloc('steady');
out.steadyAlloc = grow();
process.stdout.write(JSON.stringify(out));
`;

const runChild = (env: Record<string, string> = {}): Record<string, unknown> => runModuleJson(CHILD, { env });

test('startup keeps a large allocation in the heap; steady maps it (128 KiB threshold)', () => {
  const out = runChild();
  assert.equal(out.startup, true);
  assert.equal(out.steady, true);
  const MiB = 1024 * 1024;
  const startup = out.startupAlloc as { heap: number; mmapped: number };
  const steady = out.steadyAlloc as { heap: number; mmapped: number };
  assert.equal(startup.mmapped, 0, 'startup: 8 MiB came from the heap, not a mapping');
  assert.ok(steady.mmapped >= 8 * MiB, `steady: 8 MiB mapped on its own (got ${steady.mmapped})`);
});

test("a user's own MALLOC_* or GLIBC_TUNABLES settings are left alone", () => {
  const envs: Record<string, string>[] = [
    { MALLOC_ARENA_MAX: '4' },
    { GLIBC_TUNABLES: 'glibc.malloc.arena_max=4' },
  ];
  for (const env of envs) {
    const out = runChild(env);
    assert.equal(out.startup, false, JSON.stringify(env));
    assert.equal(out.steady, false, JSON.stringify(env));
  }
});
