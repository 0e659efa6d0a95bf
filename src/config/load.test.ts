import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { CollectorErrors } from '../errors.ts';
import {
  loadConfigFiles,
  loadConfigSources,
  MAX_CONFIG_BYTES,
  MAX_STRING_CHARS,
  scanDepth,
  type LoadedConfig,
} from './load.ts';

const td = (name: string): string => relative(process.cwd(), join(import.meta.dirname, 'testdata', name));

async function loadErrors(paths: string[], env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  try {
    await loadConfigFiles(paths, env);
  } catch (err) {
    assert.ok(err instanceof CollectorErrors, `expected CollectorErrors, got ${String(err)}`);
    return err.errors.map((e) => e.format());
  }
  assert.fail('expected the load to fail');
}

function sourceErrors(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadConfigSources([{ file: 'x.yaml', text }], env);
  } catch (err) {
    assert.ok(err instanceof CollectorErrors);
    return err.errors.map((e) => e.format());
  }
  assert.fail('expected the load to fail');
}

describe('loadConfigFiles: errors with file:line:col and code', () => {
  const cases: { name: string; file: string; env?: NodeJS.ProcessEnv; want: string[] }[] = [
    {
      name: 'YAML syntax error',
      file: 'bad-syntax.yaml',
      want: [
        ':4:1: flow sequence in block collection must be sufficiently indented and end with a ] [ERR_CONFIG_YAML]',
      ],
    },
    {
      name: 'duplicate key',
      file: 'bad-duplicate-key.yaml',
      want: [
        ':4:5: receivers.ebpf.poll_interval: duplicate key; a key may appear only once in a map [ERR_CONFIG_DUPLICATE_KEY]',
      ],
    },
    {
      name: 'literal << merge key',
      file: 'bad-merge-key.yaml',
      want: [
        ':5:5: YAML merge keys (<<) are not applied (YAML 1.2); write the keys out, or alias the whole value with *anchor [ERR_CONFIG_MERGE_KEY]',
      ],
    },
    {
      name: 'nesting deeper than 64',
      file: 'bad-too-deep.yaml',
      want: [
        ':3:71: nesting is deeper than 64 levels; the file was not parsed (flatten the structure) [ERR_CONFIG_TOO_DEEP]',
      ],
    },
    {
      name: 'env: missing variable, unsupported reference',
      file: 'bad-env-missing.yaml',
      env: { HOST: 'h' },
      want: [
        ':3:20: environment variable MISSING_POLL is not set; set it or give a default: ${env:MISSING_POLL:-value} [ERR_CONFIG_ENV]',
        ':4:35: environment variable MISSING_PORT is not set; set it or give a default: ${env:MISSING_PORT:-value} [ERR_CONFIG_ENV]',
        ':5:12: unsupported reference "${HOME}"; use ${env:NAME} or ${env:NAME:-default}, or $$ for a literal $ [ERR_CONFIG_ENV]',
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const file = td(c.file);
      assert.deepEqual(
        await loadErrors([file], c.env),
        c.want.map((w) => file + w),
      );
    });
  }

  it('reports problems of every file at once, sorted by file', async () => {
    const a = td('bad-syntax.yaml');
    const b = td('bad-duplicate-key.yaml');
    const errs = await loadErrors([a, b]);
    assert.equal(errs.length, 2);
    assert.ok(errs[0]?.startsWith(`${b}:4:5:`));
    assert.ok(errs[1]?.startsWith(`${a}:4:1:`));
  });

  it('a missing file is ERR_CONFIG_READ with the errno by name', async () => {
    assert.deepEqual(await loadErrors(['no/such/file.yaml']), [
      'read no/such/file.yaml: no such file or directory (ENOENT) [ERR_CONFIG_READ]',
    ]);
  });
});

describe('size cap', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a file over 1 MiB is ERR_CONFIG_TOO_LARGE and is not parsed', async () => {
    const file = join(dir, 'big.yaml');
    writeFileSync(file, `a: "${'x'.repeat(MAX_CONFIG_BYTES)}"\n`);
    const errs = await loadErrors([file]);
    assert.equal(errs.length, 1);
    assert.match(
      errs[0] ?? '',
      /^read .*big\.yaml: the file is 1048582 bytes; config files may be at most 1 MiB .*\[ERR_CONFIG_TOO_LARGE\]$/,
    );
  });

  it('exactly 1 MiB is accepted', async () => {
    // Strings of 64 KiB (values are capped at MAX_STRING_CHARS), one per key, to exactly 1 MiB.
    const file = join(dir, 'edge.yaml');
    const lines: string[] = [];
    let size = 0;
    for (let i = 0; size < MAX_CONFIG_BYTES; i++) {
      const head = `k${i}: "`;
      const room = MAX_CONFIG_BYTES - size - head.length - 2;
      const line = `${head}${'x'.repeat(Math.min(65_536, room))}"\n`;
      lines.push(line);
      size += line.length;
    }
    writeFileSync(file, lines.join(''));
    const loaded = await loadConfigFiles([file], {});
    const chars = Object.values(loaded.value).reduce<number>((n, v) => n + (v as string).length, 0);
    assert.equal(size, MAX_CONFIG_BYTES);
    assert.equal(chars, MAX_CONFIG_BYTES - lines.join('').replace(/"x+"/g, '""').length);
  });

  it('a string longer than MAX_STRING_CHARS is refused at its position', () => {
    const text = `a: 1\nb: "${'y'.repeat(MAX_STRING_CHARS + 1)}"\n`;
    assert.throws(
      () => loadConfigSources([{ file: 'long.yaml', text }], {}),
      (err: CollectorErrors) =>
        err.errors[0]?.format() ===
        `long.yaml:2:4: a string of ${MAX_STRING_CHARS + 1} characters; values are at most ${MAX_STRING_CHARS} (use a file for more) [ERR_CONFIG_VALUE]`,
    );
  });
});

describe('deep nesting never reaches the parser', () => {
  // yaml's composer overflows the stack near 800 levels, and a second overflow in the same
  // process aborts Node. Each of these is parsed twice here: the test process must survive.
  const shapes: Record<string, string> = {
    'flow lists': '['.repeat(5000) + ']'.repeat(5000),
    'flow maps': '{a: '.repeat(3000) + '1' + '}'.repeat(3000),
    'block maps': Array.from({ length: 900 }, (_, i) => `${' '.repeat(i)}k:`).join('\n') + ' 1\n',
    'compact lists': '- '.repeat(5000) + 'x\n',
    'compact maps (invalid YAML, still recursive)': 'k: '.repeat(5000) + '1\n',
    'lists at their key column':
      Array.from({ length: 600 }, (_, i) => `${' '.repeat(2 * i)}a:\n${' '.repeat(2 * i)}-`).join('\n') +
      ' 1\n',
    'inside a block scalar of a compact map':
      '- a: |\n' + Array.from({ length: 900 }, (_, i) => `  ${' '.repeat(i)}b:`).join('\n') + '\n',
  };
  for (const [name, text] of Object.entries(shapes)) {
    it(name, () => {
      for (let round = 0; round < 2; round++) {
        const errs = sourceErrors(text);
        assert.equal(errs.length, 1);
        assert.match(
          errs[0] ?? '',
          /^x\.yaml:\d+:\d+: nesting is deeper than 64 levels.*\[ERR_CONFIG_TOO_DEEP\]$/,
        );
      }
    });
  }

  it('alias expansion cannot build deep data either', () => {
    // Each half is 40 deep in the source; the alias puts one inside the other.
    const text = `a: &x ${'['.repeat(40)}${']'.repeat(40)}\nb: ${'['.repeat(40)}*x${']'.repeat(40)}\n`;
    const errs = sourceErrors(text);
    assert.match(
      errs[0] ?? '',
      /nesting is deeper than 64 levels \(after alias expansion\) \[ERR_CONFIG_TOO_DEEP\]$/,
    );
  });

  it('billion laughs stops at the alias budget', () => {
    let text = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i <= 9; i++)
      text += `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]\n`;
    const errs = sourceErrors(text);
    assert.match(errs[0] ?? '', /more than 1000 alias expansions/);
  });

  it('the pre-scan does not flag ordinary configs', () => {
    for (const f of ['good-full.yaml', 'good-minimal.yaml', 'env.yaml', 'merge-base.yaml']) {
      assert.equal(scanDepth(readFileSync(td(f), 'utf8'), 8), undefined, f);
    }
    const sixty = Array.from({ length: 60 }, (_, i) => `${' '.repeat(i)}k:`).join('\n') + ' 1\n';
    assert.doesNotThrow(() => loadConfigSources([{ file: 's.yaml', text: sixty }], {}));
    // Brackets inside block scalars, quotes and plain text are not structure.
    const text = 'a:\n  - b: |\n      text [ { [ {\n    c: "q [ { [ {"\n    e: x[{[{\n    d: [a, {b: c}]\n';
    assert.equal(scanDepth(text, 5), undefined);
    assert.deepEqual(scanDepth(text, 4), { offset: 74, depth: 5 });
  });
});

describe('environment expansion', () => {
  const env = { POLL: '20s', EMPTY_VAR: '', HOST: 'localhost', PORT: '9100' };
  it('expands ${env:X}, defaults, $$, and types a whole plain reference', async () => {
    const loaded = await loadConfigFiles([td('env.yaml')], env);
    assert.deepEqual(loaded.value, {
      receivers: {
        ebpf: {
          poll_interval: '20s',
          with_default: '30s',
          empty_default: 'fallback',
          escaped: 'price is $5 and ${env:NOT_EXPANDED}',
          mixed: 'http://localhost:9100/metrics',
          port_plain: 9100,
          port_quoted: '9100',
          lone_dollar: 'cost$ 5$',
        },
      },
    });
  });

  it('does not expand keys, and inserts values verbatim (no second expansion)', () => {
    const loaded = loadConfigSources([{ file: 'x.yaml', text: '${env:K}: ${env:V}\n' }], {
      K: 'k',
      V: '${env:K}',
    });
    assert.deepEqual(loaded.value, { '${env:K}': '${env:K}' });
  });

  it('rejects bad names and unterminated references', () => {
    assert.deepEqual(sourceErrors('a: ${env:1X}\nb: x ${env:Y\n'), [
      'x.yaml:1:4: invalid environment variable name "1X" in "${env:1X}"; names are letters, digits and _ [ERR_CONFIG_ENV]',
      'x.yaml:2:6: unterminated reference "${env:Y"; close it with "}" [ERR_CONFIG_ENV]',
    ]);
  });
});

describe('merge of several files', () => {
  let loaded: LoadedConfig;
  const base = td('merge-base.yaml');
  const over = td('merge-override.yaml');

  it('later wins per key, maps merge deeply, lists are replaced', async () => {
    loaded = await loadConfigFiles([base, over], {});
    assert.deepEqual(loaded.files, [base, over]);
    assert.deepEqual(loaded.value, {
      receivers: { 'ebpf/timers': { poll_interval: '5s', mode: 'normal' }, 'ebpf/bio': null },
      exporters: { prometheus: { endpoint: '0.0.0.0:9435' } },
      service: {
        pipelines: { metrics: { receivers: ['ebpf/timers', 'ebpf/bio'], exporters: ['prometheus'] } },
        telemetry: { logs: { level: 'info' } },
      },
    });
  });

  it('positions come from the file that supplied each value', () => {
    const at = (path: (string | number)[], which: 'key' | 'value' = 'value'): string => {
      const p = loaded.positionOf(path, which);
      return p ? `${p.file}:${p.line}:${p.col}` : 'none';
    };
    assert.equal(at(['receivers', 'ebpf/timers', 'poll_interval']), `${over}:4:20`);
    assert.equal(at(['receivers', 'ebpf/timers', 'poll_interval'], 'key'), `${over}:4:5`);
    assert.equal(at(['receivers', 'ebpf/timers', 'mode']), `${base}:4:11`);
    assert.equal(at(['receivers', 'ebpf/bio'], 'key'), `${over}:5:3`);
    assert.equal(at(['exporters', 'prometheus', 'endpoint']), `${base}:7:15`);
    assert.equal(at(['service', 'pipelines', 'metrics', 'receivers', 1]), `${over}:9:32`);
    assert.equal(at(['service', 'pipelines', 'metrics', 'exporters', 0]), `${base}:12:19`);
    assert.equal(at(['service', 'pipelines', 'metrics', 'receivers', 2]), 'none');
    assert.equal(at(['nope']), 'none');
  });
});

describe('YAML details', () => {
  it('one document per file; keys must be text; unknown aliases and tags are errors', () => {
    assert.deepEqual(sourceErrors('a: 1\n---\nb: 2\n'), [
      'x.yaml:2:1: a config file holds one YAML document; remove the "---" or split the file [ERR_CONFIG_YAML]',
    ]);
    assert.deepEqual(sourceErrors('? [a]\n: 1\n'), [
      'x.yaml:1:3: map keys must be plain text (not lists, maps, aliases or empty) [ERR_CONFIG_YAML]',
    ]);
    assert.deepEqual(sourceErrors('a: *nope\n'), ['x.yaml:1:4: unknown alias *nope [ERR_CONFIG_YAML]']);
    assert.deepEqual(sourceErrors('a: !custom x\n'), [
      'x.yaml:1:4: unresolved tag: !custom [ERR_CONFIG_YAML]',
    ]);
    assert.deepEqual(sourceErrors('a: &x [ *x ]\n'), [
      'x.yaml:1:9: alias *x refers to a node that contains it [ERR_CONFIG_YAML]',
    ]);
    assert.deepEqual(sourceErrors('1: a\n"1": b\n'), [
      'x.yaml:2:1: 1: duplicate key; a key may appear only once in a map [ERR_CONFIG_DUPLICATE_KEY]',
    ]);
    assert.deepEqual(sourceErrors('- a\n'), [
      'x.yaml:1:1: the top level of a config file must be a map, got a list [ERR_CONFIG_TYPE]',
    ]);
  });

  it('an empty file is an empty map; __proto__ stays an ordinary key; aliases copy values', () => {
    assert.deepEqual(loadConfigSources([{ file: 'e.yaml', text: '# nothing\n' }], {}).value, {});
    const v = loadConfigSources([{ file: 'p.yaml', text: '__proto__: {polluted: true}\n' }], {}).value;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.keys(v), ['__proto__']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const a = loadConfigSources([{ file: 'a.yaml', text: 'x: &d {p: 1}\ny: *d\n' }], {});
    assert.deepEqual(a.value, { x: { p: 1 }, y: { p: 1 } });
    assert.deepEqual(a.positionOf(['y']), { file: 'a.yaml', line: 2, col: 4 });
    assert.deepEqual(a.positionOf(['y', 'p'], 'key'), { file: 'a.yaml', line: 1, col: 8 });
    assert.deepEqual(a.positionOf(['y', 'p']), { file: 'a.yaml', line: 1, col: 11 });
  });

  it('an empty value points at its key', () => {
    const l = loadConfigSources([{ file: 'n.yaml', text: 'exporters:\n  prometheus:\n' }], {});
    assert.deepEqual(l.positionOf(['exporters', 'prometheus']), { file: 'n.yaml', line: 2, col: 3 });
  });
});
