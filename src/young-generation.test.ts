/**
 * tuneYoungGeneration: V8's new space stays at its first size while many young objects
 * survive scavenges (as in a scrape flood); without it the new space doubles up to 128 MiB
 * and stays. Observed in child processes (the flag is process-wide).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const CHILD = `
import { getHeapSpaceStatistics } from 'node:v8';
import { tuneYoungGeneration } from ${JSON.stringify(new URL('./young-generation.ts', import.meta.url).href)};
if (process.argv.includes('tuned')) tuneYoungGeneration();
const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
let most = newSpace();
for (let round = 0; round < 20; round++) {
  const keep = [];
  for (let i = 0; i < 300_000; i++) keep.push({ i, s: 'x' + i, a: [i] });
  most = Math.max(most, newSpace());
  await new Promise((resolve) => setTimeout(resolve, 5));
}
process.stdout.write(JSON.stringify({ most, end: newSpace() }));
`;

function newSpaceMiB(tuned: boolean): { most: number; end: number } {
  const r = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', CHILD, '--', tuned ? 'tuned' : 'default'],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { most: number; end: number };
  return { most: out.most / 2 ** 20, end: out.end / 2 ** 20 };
}

test('the new space stays within 16 MiB under surviving young objects; untuned it grows past 32 MiB', () => {
  const untuned = newSpaceMiB(false);
  const tuned = newSpaceMiB(true);
  assert.ok(untuned.end > 32, `untuned new space ${untuned.end} MiB (the test's load grows it)`);
  // Its first size is a few MiB; on a loaded machine a scavenge may still double it once or twice
  // before the flag is read back. Untuned it reaches 32–128 MiB.
  assert.ok(tuned.most <= 16, `tuned new space at most ${tuned.most} MiB (untuned ${untuned.end} MiB)`);
});
