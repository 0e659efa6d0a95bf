/**
 * Precompiles src/ to build/js/src/ so the agent starts without Node's type stripping
 * (whose WASM transformer costs ~20–30 MB RSS and ~1 s of CPU at every start).
 *
 * Node's own `stripTypeScriptTypes` in strip mode: types become whitespace, so every line
 * and column stays where it is in the source (stack traces match src/ without source
 * maps). Relative `.ts` import specifiers become `.js`; `import.meta.url` becomes the
 * URL of the source file, so paths computed from a module's location (the addon, bpf/,
 * build/tables, package.json) resolve exactly as when src/ runs directly.
 *
 * Writes to a temporary directory and renames it into place; the stamp file's mtime is
 * the time the build started, so a source saved during the build makes it stale.
 * bin/ebpf-collector.js runs build/js only while no source file or directory under src/
 * is newer than the stamp; scripts/setup.sh rebuilds by the same rule.
 *
 *   node scripts/build-js.ts [--out DIR]
 */
import { stripTypeScriptTypes } from 'node:module';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const STAMP = '.stamp';

/** Sources that go into the build: src/**\/*.ts without tests. */
export function isSource(file: string): boolean {
  return file.endsWith('.ts') && !file.endsWith('.test.ts') && !file.endsWith('.d.ts');
}

/** Relative `.ts` specifiers in import/export positions → `.js`. */
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.\.?\/[^'"\r\n]*?)\.ts\2/g;
const LEFTOVER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])\.\.?\/[^'"\r\n]*?\.(?:ts|mts|tsx)\2/;

/**
 * A static import of a Node built-in (`import { x } from 'node:fs'`, at the start of a line;
 * the clause may span lines). Group 1: the clause; 2: the quote; 3: the module.
 */
const BUILTIN_IMPORT = /^import(\s+[^'";]*?\s+)from(\s*)(['"])(node:[a-z0-9_/]+)\3/gm;

/** `{ a, b as c }` as a destructuring pattern `{ a, b: c }`; undefined for `default` (a built-in's CommonJS exports have no such key). */
function pattern(braces: string): string | undefined {
  return /\bdefault\b/.test(braces)
    ? undefined
    : braces.replace(/([\w$]+)(\s+)as(\s+)([\w$]+)/g, '$1:$2$3$4');
}

/**
 * An import clause as `const` declarations of `get` (the built-in's exports), or undefined
 * for a form with no equivalent. `X, { a }` becomes `X = get, { a } = X`.
 */
function declarations(clause: string, get: string): string | undefined {
  const c = clause.trim();
  const lead = clause.slice(0, clause.indexOf(c));
  const trail = clause.slice(lead.length + c.length);
  if (c.startsWith('{')) {
    const p = pattern(c);
    return p === undefined ? undefined : `${lead}${p}${trail}=${get}`;
  }
  const m = /^([\w$]+|\*\s+as\s+([\w$]+))(?:(\s*,\s*)([\s\S]+))?$/.exec(c);
  if (!m) return undefined;
  const name = m[2] ?? m[1];
  if (m[3] === undefined) return `${lead}${name}${trail}=${get}`;
  const rest = m[4] as string;
  const more = rest.startsWith('{') ? pattern(rest) : /^\*\s+as\s+([\w$]+)$/.exec(rest)?.[1];
  return more === undefined
    ? undefined
    : `${lead}${name} =${get},${m[3].replace(',', '')}${more}${trail}= ${name}`;
}

/**
 * Built-ins through `process.getBuiltinModule` instead of `import`. An ES import of a
 * built-in makes Node build its ES module facade, which reads every export, and so runs
 * every lazy getter: `node:http` alone then loads undici, http2, tls, crypto, zlib and
 * worker_threads (97 modules; ~9 MB RSS for the agent's set against the same built-ins
 * required). Lines are kept; a clause with no `const` equivalent is a build error.
 */
function builtinsRequired(code: string, file: string): string {
  return code.replace(BUILTIN_IMPORT, (all, clause: string, gap: string, q: string, mod: string) => {
    const decl = declarations(clause, `${gap}globalThis.process.getBuiltinModule(${q}${mod}${q})`);
    if (decl === undefined) throw new Error(`${file}: cannot turn into getBuiltinModule: ${all}`);
    return `const${decl}`;
  });
}

/** Transform one source file's text; `srcRel` is the source's path relative to `outFile`'s directory. */
export function transform(code: string, file: string, srcRel: string): string {
  const space = /(?=[\u0080-\uffff])\s/.exec(code);
  if (space) throw new Error(`${file}: write U+${space[0].charCodeAt(0).toString(16)} as an escape`);
  let out: string;
  try {
    out = stripTypeScriptTypes(code, { mode: 'strip' });
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
  }
  out = builtinsRequired(out.replace(SPECIFIER, '$1$2$3.js$2'), file);
  const left = LEFTOVER.exec(out);
  if (left) throw new Error(`${file}: import specifier not rewritten: ${left[0]}`);
  if (/\bimport\.meta\.(?:dirname|filename)\b/.test(out))
    throw new Error(
      `${file}: use fileURLToPath(import.meta.url): import.meta.dirname/filename are not rewritten`,
    );
  const url = JSON.stringify(srcRel.split(sep).join('/'));
  return ascii(out.replace(/\bimport\.meta\.url\b/g, `new URL(${url}, import.meta.url).href`), file);
}

/**
 * Every character outside ASCII as a `\uXXXX` escape, which means the same character in a
 * string, template, regular expression or identifier, and nothing in a comment. V8 keeps
 * each module's source for lazy compilation, as two bytes a character once one character
 * needs it: a `—` in a comment doubled ~100 of our files (~0.6 MB of heap). Lines are kept
 * (columns after an escape move). Type stripping blanks a wide character in a type with a
 * wide space (U+2002): whitespace outside ASCII becomes a space (`transform` refuses a
 * source holding one of its own). A backslash before a wide character (an identity escape)
 * would change meaning, and U+2028/2029 end a `//` comment: both are build errors.
 */
export function ascii(code: string, file: string): string {
  const bad = /\\[\u0080-\uffff]|[\u2028\u2029]/.exec(code);
  if (bad) throw new Error(`${file}: cannot escape ${JSON.stringify(bad[0])} to ASCII`);
  return code.replace(/[\u0080-\uffff]/g, (c) =>
    /\s/.test(c) ? ' ' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function sources(srcDir: string): string[] {
  return (readdirSync(srcDir, { recursive: true }) as string[]).filter(isSource).sort();
}

/** Build `srcDir` into `outDir/src`; returns how many files were written. */
export function buildJs(options: { srcDir?: string; outDir?: string } = {}): number {
  const srcDir = resolve(options.srcDir ?? join(repoRoot, 'src'));
  const outDir = resolve(options.outDir ?? join(repoRoot, 'build', 'js'));
  const started = new Date();
  const tmp = `${outDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    const files = sources(srcDir);
    for (const f of files) {
      const outFile = join(tmp, 'src', f.replace(/\.ts$/, '.js'));
      const finalOutDir = dirname(join(outDir, 'src', f));
      const code = transform(
        readFileSync(join(srcDir, f), 'utf8'),
        f,
        relative(finalOutDir, join(srcDir, f)),
      );
      mkdirSync(dirname(outFile), { recursive: true });
      writeFileSync(outFile, code);
    }
    writeFileSync(join(tmp, STAMP), `${files.length} files from ${srcDir}\n`);
    utimesSync(join(tmp, STAMP), started, started);
    rmSync(outDir, { recursive: true, force: true });
    renameSync(tmp, outDir);
    return files.length;
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--out');
  const outDir = i >= 0 ? process.argv[i + 1] : undefined;
  process.removeAllListeners('warning'); // stripTypeScriptTypes is "experimental": say nothing
  const t = performance.now();
  const n = buildJs({ outDir });
  process.stderr.write(`[build-js] ${n} files in ${Math.round(performance.now() - t)} ms\n`);
}
