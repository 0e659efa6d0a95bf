import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/agent.ts';

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* sources(p);
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) yield p;
  }
}

test('every error code used in src/ is documented in docs/errors.md with a fix', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'errors.md'), 'utf8');
  const used = new Set<string>();
  for (const file of sources(join(repoRoot, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/'(ERR_[A-Z0-9_]+)'/g)) used.add(m[1] as string);
  }
  assert.ok(used.size > 5, `found only ${used.size} codes`);
  const missing = [...used].filter((code) => !new RegExp(`\`${code}\``).test(doc));
  assert.deepEqual(missing, [], `undocumented error codes: ${missing.join(', ')}`);
  for (const code of used) {
    const line = doc.split('\n').find((l) => l.includes(`\`${code}\``)) ?? '';
    assert.match(line, /Fix:/, `${code} has no "Fix:" in docs/errors.md`);
  }
});
