/**
 * dropExecutablePages: the Node executable's clean pages leave this process's RSS, pages with
 * anything written to them stay, and the process runs on (code and built-ins it had not run
 * yet are mapped again from the page cache). In a child process: the pages are process-wide.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runModuleJson } from '../../test/helpers/module-child.ts';

interface Mapping {
  readonly range: string;
  readonly perms: string;
  readonly rssKiB: number;
  readonly anonKiB: number;
}

const CHILD = `
import { readFileSync, realpathSync } from 'node:fs';
import { dropExecutablePages } from ${JSON.stringify(new URL('./index.ts', import.meta.url).href)};
const exe = realpathSync('/proc/self/exe');
function mappings() {
  const out = [];
  let cur;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\\n')) {
    const head = /^([0-9a-f]+-[0-9a-f]+) (\\S+) \\S+ \\S+ \\S+\\s*(.*)$/.exec(line);
    if (head) {
      cur = head[3] === exe ? { range: head[1], perms: head[2], rssKiB: 0, anonKiB: 0 } : undefined;
      if (cur) out.push(cur);
      continue;
    }
    const field = /^(Rss|Anonymous):\\s+(\\d+) kB/.exec(line);
    if (cur && field) cur[field[1] === 'Rss' ? 'rssKiB' : 'anonKiB'] = Number(field[2]);
  }
  return out;
}
const before = mappings();
const droppedBytes = dropExecutablePages();
const after = mappings();
// Code this process has not run yet: a new function, a regular expression, zlib's built-ins.
const { deflateSync, inflateSync } = await import('node:zlib');
const text = Array.from({ length: 2000 }, (_, i) => 'line ' + i).join('\\n');
const work = new Function('s', 'return s.split(/\\\\n/).filter((l) => /7$/.test(l)).length')(
  inflateSync(deflateSync(text)).toString(),
);
process.stdout.write(JSON.stringify({ before, after, droppedBytes, work }));
`;

const clean = (m: Mapping): boolean => m.perms[1] !== 'w' && m.perms[3] === 'p' && m.anonKiB === 0;

test('the executable’s clean pages are unmapped, written ones kept, and the process runs on', () => {
  const out = runModuleJson<{ before: Mapping[]; after: Mapping[]; droppedBytes: number; work: number }>(
    CHILD,
  );
  assert.equal(out.work, 200, 'code run after the drop works');
  const sum = (ms: Mapping[]): number => ms.reduce((s, m) => s + m.rssKiB, 0);
  const cleanBefore = out.before.filter(clean);
  assert.ok(cleanBefore.length >= 2, `text and read-only data mappings: ${JSON.stringify(out.before)}`);
  // A Node that has loaded a few modules has touched megabytes of its code and built-ins.
  assert.ok(sum(cleanBefore) > 8 * 1024, `clean resident ${sum(cleanBefore)} kB`);
  // The bytes reported are those resident when it ran: at least those read before, at most
  // the mappings' whole size (start-up is still touching pages in between).
  const sizeKiB = cleanBefore.reduce((s, m) => {
    const [start, end] = m.range.split('-').map((x) => BigInt(`0x${x}`)) as [bigint, bigint];
    return s + Number(end - start) / 1024;
  }, 0);
  const droppedKiB = out.droppedBytes / 1024;
  assert.ok(
    droppedKiB >= sum(cleanBefore) && droppedKiB <= sizeKiB,
    `dropped ${droppedKiB} kB; ${sum(cleanBefore)} kB resident before, of ${sizeKiB} kB mapped`,
  );
  const byRange = new Map(out.after.map((m) => [m.range, m]));
  const cleanAfter = cleanBefore.map((m) => byRange.get(m.range) as Mapping);
  // Reading smaps runs a little code again between the drop and the second read.
  assert.ok(
    sum(cleanAfter) < sum(cleanBefore) / 4,
    `clean resident ${sum(cleanBefore)} → ${sum(cleanAfter)} kB`,
  );
  for (const m of out.before.filter((x) => !clean(x))) {
    const a = byRange.get(m.range) as Mapping;
    assert.ok(
      a.rssKiB >= m.rssKiB && a.anonKiB >= m.anonKiB,
      `kept ${m.range} ${m.perms}: ${m.rssKiB} → ${a.rssKiB} kB`,
    );
  }
  assert.ok(
    out.before.some((m) => !clean(m) && m.rssKiB > 0),
    'the executable has a written mapping to keep (its data)',
  );
});
