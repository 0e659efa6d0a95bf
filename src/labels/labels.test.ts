import assert from 'node:assert/strict';
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
