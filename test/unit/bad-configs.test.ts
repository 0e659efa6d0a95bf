/**
 * The table of bad configs: every `test/configs/bad/*.yaml` states what loading it must
 * report, in comment lines at its top:
 *
 *   # expect: <line>:<col> <ERR_CODE> <regex of the message>
 *   # expect: metrics/x.yaml:<line>:<col> <ERR_CODE> <regex>   (a problem in another file)
 *   # warning: <line>:<col> ERR_CONFIG_UNUSED <regex>          (a warning; the config may still load)
 *
 * `loadAgentConfig` must report exactly the expected set of `file:line:col code` (all
 * problems at once) and each message must match its regex; warnings likewise.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { loadConfigFiles } from '../../src/config/load.ts';
import { parseServiceConfig } from '../../src/config/service.ts';
import { CollectorError, CollectorErrors } from '../../src/errors.ts';
import { loadAgentConfig } from '../../src/service.ts';
import { repoRoot } from '../helpers/agent.ts';

const badDir = relative(process.cwd(), join(repoRoot, 'test', 'configs', 'bad'));

interface Expectation {
  /** `file:line:col code`, with file as loading reports it. */
  readonly key: string;
  readonly message: RegExp;
}

interface Case {
  readonly file: string;
  readonly errors: readonly Expectation[];
  readonly warnings: readonly Expectation[];
}

const LINE = /^# (expect|warning): (?:(\S+\.yaml):)?(\d+):(\d+) (ERR_[A-Z0-9_]+) (.+)$/;

function parseCase(file: string): Case {
  const errors: Expectation[] = [];
  const warnings: Expectation[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('#')) break;
    if (!/^# (expect|warning):/.test(line)) continue;
    const m = LINE.exec(line);
    assert.ok(m, `${file}: cannot read "${line}"`);
    const [, kind, other, l, c, code, re] = m as unknown as string[];
    const where = other === undefined ? file : join(dirname(file), other);
    const e = { key: `${where}:${l}:${c} ${code}`, message: new RegExp(re as string) };
    (kind === 'expect' ? errors : warnings).push(e);
  }
  return { file, errors, warnings };
}

const cases = readdirSync(badDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => parseCase(join(badDir, f)));

function keyOf(e: CollectorError): string {
  const p = e.position;
  return p ? `${p.file}:${p.line}:${p.col} ${e.code}` : `<no position> ${e.code}: ${e.message}`;
}

function check(actual: readonly CollectorError[], expected: readonly Expectation[], what: string): void {
  const shown = actual.map((e) => e.format()).join('\n');
  assert.deepEqual(actual.map(keyOf).sort(), expected.map((e) => e.key).sort(), `${what}: got\n${shown}`);
  for (const e of expected) {
    const hits = actual.filter((a) => keyOf(a) === e.key);
    assert.ok(
      hits.some((a) => e.message.test(a.message)),
      `${what} at ${e.key}: no message matches ${e.message}; got\n${shown}`,
    );
  }
}

describe('bad configs (test/configs/bad)', () => {
  it('holds a table of at least 60 cases, each stating what it expects', () => {
    assert.ok(cases.length >= 60, `only ${cases.length} cases`);
    for (const c of cases) {
      assert.ok(c.errors.length + c.warnings.length > 0, `${c.file} has no "# expect:" or "# warning:" line`);
    }
  });

  for (const c of cases) {
    it(relative(badDir, c.file), async () => {
      let errors: readonly CollectorError[] = [];
      try {
        await loadAgentConfig([c.file]);
      } catch (err) {
        if (!(err instanceof CollectorErrors)) throw err;
        errors = err.errors;
      }
      check(errors, c.errors, 'errors');
      if (c.warnings.length > 0) {
        const { warnings } = parseServiceConfig(await loadConfigFiles([c.file]));
        check(warnings, c.warnings, 'warnings');
      }
    });
  }
});
