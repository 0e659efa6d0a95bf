/**
 * The precompiled build (scripts/build-js.ts) and bin/ebpf-collector.js's choice between
 * it and src/: the build behaves as the sources, and a stale build is never run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import { ascii, buildJs, repoRoot, transform } from '../../scripts/build-js.ts';

test('transform: types become whitespace (lines kept), .ts specifiers .js, import.meta.url the source', () => {
  const src = [
    "import type { A } from './a.ts';",
    "import { b, type C } from '../b.ts';",
    "export * from './c.ts';",
    "import './d.ts';",
    'const x: number = 1;',
    "const e = await import('./e.ts');",
    "const pkg = 'pkg.ts'; // not a relative specifier",
    "import { z } from 'zod';",
    'export const here = new URL(import.meta.url);',
  ].join('\n');
  const out = transform(src, 'x.ts', '../../src/x.ts');
  assert.equal(out.split('\n').length, src.split('\n').length);
  assert.doesNotMatch(out, /\.\/a\.ts|import type/);
  assert.match(out, /import \{ b,\s+\} from '\.\.\/b\.js';/);
  assert.match(out, /export \* from '\.\/c\.js';/);
  assert.match(out, /import '\.\/d\.js';/);
  assert.match(out, /const x\s+= 1;/);
  assert.match(out, /await import\('\.\/e\.js'\)/);
  assert.match(out, /'pkg\.ts'/);
  assert.match(out, /new URL\(new URL\("\.\.\/\.\.\/src\/x\.ts", import\.meta\.url\)\.href\)/);
  assert.throws(() => transform('enum E { A }', 'e.ts', 'e.ts'), /e\.ts: /);
  assert.throws(() => transform('const d = import.meta.dirname;', 'd.ts', 'd.ts'), /import\.meta\.dirname/);
});

test('transform: built-ins come from process.getBuiltinModule (no ES facade), lines kept', () => {
  const src = [
    "import { readFileSync, statSync as st } from 'node:fs';",
    "import http from 'node:http';",
    "import * as os from 'node:os';",
    "import https, { request as r2 } from 'node:https';",
    'import {',
    '  a,',
    '  type T,',
    '  b as c,',
    "} from 'node:net';",
    "import type { Socket } from 'node:net';",
    "import { setFlagsFromString } from 'node:v8';",
    "import { z } from 'zod';",
    '/**',
    " * import { x } from 'node:fs'; (a comment)",
    ' */',
  ].join('\n');
  const out = transform(src, 'x.ts', 'x.ts');
  assert.equal(out.split('\n').length, src.split('\n').length);
  const get = (m: string): string => `globalThis.process.getBuiltinModule('node:${m}')`;
  const lines = out.split('\n');
  assert.equal(lines[0], `const { readFileSync, statSync:  st } = ${get('fs')};`);
  assert.equal(lines[1], `const http = ${get('http')};`);
  assert.equal(lines[2], `const os = ${get('os')};`);
  assert.equal(lines[3], `const https = ${get('https')}, { request:  r2 } = https;`);
  assert.equal(lines[8], `} = ${get('net')};`);
  assert.match(lines[7] as string, /^ {2}b: {2}c,$/);
  assert.match(lines[10] as string, /^const \{ setFlagsFromString \} = .*'node:v8'\);$/);
  assert.equal(lines[11], "import { z } from 'zod';");
  assert.equal(lines[13], " * import { x } from 'node:fs'; (a comment)");
  assert.throws(() => transform("import { default as fs } from 'node:fs';", 'd.ts', 'd.ts'), /d\.ts: cannot/);
});

test('ascii: the build is ASCII (V8 keeps a source with one wider character at two bytes each)', () => {
  const src = [
    '// a — comment → here',
    "const s = 'a–b', t = `x ${1} …`, r = /[→×]/u;",
    "export const café = { µ: 'µs' };",
    "const e = '😀';",
  ].join('\n');
  const out = ascii(src, 'x.ts');
  assert.match(out, /^[^\u0080-\uffff]*$/);
  assert.equal(out.split('\n').length, src.split('\n').length);
  const mod = (code: string): Record<string, unknown> =>
    runInNewContext(`${code.replace('export const', 'const')}; ({ s, t, r, e, café })`) as Record<
      string,
      unknown
    >;
  const [{ r: ra, ...a }, { r: rb, ...b }] = [mod(src), mod(out)];
  assert.equal(JSON.stringify(b), JSON.stringify(a));
  assert.equal((rb as RegExp).flags, (ra as RegExp).flags);
  for (const c of ['→', '×', 'x', '\\']) assert.equal((rb as RegExp).test(c), (ra as RegExp).test(c), c);
  assert.throws(() => ascii("const x = '\\é';", 'e.ts'), /e\.ts: cannot escape/);
  assert.throws(() => ascii('// a\u2028b', 'l.ts'), /l\.ts: cannot escape/);
  // Type stripping blanks a wide character in a type with U+2002: a plain space here.
  const stripped = transform("let x: 'a→b' = 'c→d';", 's.ts', 's.ts');
  assert.match(stripped, /^let x += 'c\\u2192d';$/);
  assert.throws(() => transform("const s = 'a\u2002b';", 'w.ts', 'w.ts'), /w\.ts: write U\+2002/);
});

test('the build runs as the sources: same schema, same validate and print-config output', () => {
  // Inside the checkout, so the build resolves node_modules as build/js does.
  const out = join(repoRoot, 'build', `js-test-${process.pid}`);
  try {
    const n = buildJs({ outDir: join(out, 'js') });
    assert.ok(n > 50, `${n} files`);
    const run = (entry: string, ...args: string[]): string => {
      const r = spawnSync(process.execPath, [entry, ...args], { cwd: repoRoot, encoding: 'utf8' });
      assert.equal(r.status, 0, `${entry} ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const js = join(out, 'js', 'src', 'cli.js');
    const ts = join(repoRoot, 'src', 'cli.ts');
    for (const args of [
      ['schema'],
      ['--version'],
      ['validate', '--config', 'pipelines/default.yaml'],
      ['print-config', '--config', 'pipelines/default.yaml'],
    ]) {
      assert.equal(run(js, ...args), run(ts, ...args), args.join(' '));
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('bin runs build/js only while no source or directory under src/ is newer than the stamp', () => {
  const root = mkdtempSync(join(tmpdir(), 'bin-fresh-'));
  try {
    mkdirSync(join(root, 'bin'));
    mkdirSync(join(root, 'src', 'sub'), { recursive: true });
    mkdirSync(join(root, 'build', 'js', 'src'), { recursive: true });
    copyFileSync(join(repoRoot, 'bin', 'ebpf-collector.js'), join(root, 'bin', 'ebpf-collector.js'));
    writeFileSync(join(root, 'package.json'), '{"type":"module"}\n');
    const report = (mode: string): string =>
      `process.stdout.write(['${mode}', process.env.MALLOC_ARENA_MAX ?? '-', process.pid].join(' '));\n`;
    writeFileSync(join(root, 'src', 'cli.ts'), report('ts'));
    writeFileSync(join(root, 'src', 'sub', 'a.ts'), 'export {};\n');
    writeFileSync(join(root, 'build', 'js', 'src', 'cli.js'), report('js'));
    // bin loads this module before cli (src/young-generation.ts), from the same tree.
    const tune = 'export function tuneYoungGeneration() {}\n';
    writeFileSync(join(root, 'src', 'young-generation.ts'), tune);
    writeFileSync(join(root, 'build', 'js', 'src', 'young-generation.js'), tune);
    const stamp = join(root, 'build', 'js', '.stamp');
    writeFileSync(stamp, '');
    const old = new Date(Date.now() - 60_000);
    const older = new Date(Date.now() - 120_000);
    const age = (p: string, t = older): void => utimesSync(join(root, p), t, t);
    const settle = (): void => {
      for (const p of ['src/sub/a.ts', 'src/cli.ts', 'src/young-generation.ts', 'src/sub', 'src']) age(p);
      age('build/js/.stamp', old);
    };
    const runBin = (args: string[], env: Record<string, string> = {}): string[] => {
      const r = spawnSync(process.execPath, [join(root, 'bin', 'ebpf-collector.js'), ...args], {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.split(' ')[2], String(r.pid), 'one process');
      return r.stdout.split(' ');
    };
    const chosen = (env: Record<string, string> = {}): string => runBin(['validate'], env)[0] as string;
    settle();
    assert.equal(chosen(), 'js', 'fresh build');
    assert.equal(chosen({ EBPF_COLLECTOR_FROM_SOURCE: '1' }), 'ts', 'forced');
    writeFileSync(join(root, 'src', 'sub', 'a.ts'), 'export const a = 1;\n');
    assert.equal(chosen(), 'ts', 'a source edited after the build');
    settle();
    writeFileSync(join(root, 'src', 'sub', 'a.test.ts'), '');
    age('src/sub');
    assert.equal(chosen(), 'js', 'a test file does not count');
    writeFileSync(join(root, 'src', 'sub', 'b.ts'), '');
    age('src/sub/b.ts');
    assert.equal(chosen(), 'ts', 'a new file (its directory changed), even with an old mtime');
    settle();
    age('src/sub/b.ts');
    assert.equal(chosen(), 'js');
    // No re-exec with malloc tunables in the environment (the agent tunes malloc at run time).
    assert.deepEqual(runBin(['run']).slice(0, 2), ['js', '-']);
    assert.deepEqual(runBin(['run'], { MALLOC_ARENA_MAX: '4' }).slice(0, 2), ['js', '4'], "the user's own");
    rmSync(stamp);
    assert.equal(chosen(), 'ts', 'no stamp');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
