import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { expandTemplate } from './expand.ts';
import { compileAnchored, regexProblem } from './regex.ts';

describe('expandTemplate (Go Regexp.ExpandString)', () => {
  const m = compileAnchored('(?P<first>a)(b)?(c)').exec('ac');
  assert.ok(m);
  const cases: [string, string][] = [
    ['$1', 'a'],
    ['${1}', 'a'],
    ['$first', 'a'],
    ['${first}', 'a'],
    ['$2', ''], // did not take part
    ['$3', 'c'],
    ['$0', 'ac'],
    ['$1x', ''], // the group named "1x"
    ['${1}x', 'ax'],
    ['$$1', '$1'],
    ['$$', '$'],
    ['$', '$'], // malformed: kept
    ['${1', '${1'],
    ['${}', '${}'],
    ['$-', '$-'],
    ['$9', ''],
    ['$01', ''], // leading zero: a name, not a number
    ['x${1}y${3}z', 'xaycz'],
    ['x$1y$3z', 'x'], // names 1y and 3z
    ['$first_', ''],
  ];
  for (const [template, expected] of cases) {
    it(`${JSON.stringify(template)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(expandTemplate(template, m), expected);
    });
  }
});

describe('compileAnchored (RE2, ^(?s:…)$)', () => {
  const cases: [string, string, boolean][] = [
    ['foo', 'foo', true],
    ['foo', 'xfoo', false],
    ['f|o', 'o', true],
    ['f|o', 'fo', false],
    ['a.b', 'a\nb', true],
    ['(?i)abc', 'ABC', true],
    ['', '', true],
    ['a+', 'aaa', true],
  ];
  for (const [pattern, value, expected] of cases) {
    it(`${JSON.stringify(pattern)} on ${JSON.stringify(value)} is ${expected}`, () => {
      assert.equal(compileAnchored(pattern).test(value), expected);
    });
  }
});

describe('regexProblem', () => {
  const cases: [string, string | undefined, number | undefined][] = [
    ['a(?=b)', 'RE2 has no lookahead or lookbehind ((?=…)', 1],
    ['x(?<!y)', 'RE2 has no lookahead or lookbehind ((?<!…)', 1],
    ['(a)\\1', 'RE2 has no backreferences (\\1)', 3],
    ['ab(c', 'missing closing ): `ab(c`', 0],
    ['a**', 'invalid nested repetition operator: `**`', 1],
    ['(?P<n>a)', undefined, undefined],
  ];
  for (const [pattern, message, offset] of cases) {
    it(pattern, () => {
      const p = regexProblem(pattern);
      assert.deepEqual(
        p && { message: p.message, offset: p.offset },
        message === undefined ? undefined : { message, offset },
      );
    });
  }
});

describe('re2js loading', () => {
  it('loads at the first compile, once (an agent whose config has no regexp never loads it)', () => {
    // A fresh process: this file has compiled regexps already. Both users (the label
    // regexps and the cgroup_id_map receiver) take it from labels/regex.ts.
    const script = `
      import { registerHooks } from 'node:module';
      const seen = [];
      registerHooks({ resolve(s, c, next) { const r = next(s, c); seen.push(r.url); return r; } });
      const re2js = () => seen.filter((u) => u.includes('/re2js/')).length;
      const { compileAnchored } = await import(${JSON.stringify(new URL('./regex.ts', import.meta.url).href)});
      await import(${JSON.stringify(new URL('../receivers/ebpf/cgroup-id-map.ts', import.meta.url).href)});
      const before = re2js();
      const ok = compileAnchored('a+').test('aaa') && !compileAnchored('a+').test('ab');
      console.log(JSON.stringify({ before, after: re2js(), ok }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { before: 0, after: 1, ok: true });
  });
});
