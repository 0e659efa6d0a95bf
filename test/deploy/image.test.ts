import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  aptInstalls,
  keyValues,
  parseInstructions,
  parseStages,
  runtimeStage,
} from '../../deploy/image/containerfile.ts';
import {
  CMD,
  DEBIAN_SUITE,
  DPKG_TRIM_FILE,
  ENTRYPOINT,
  LABELS,
  PORT,
  RUNTIME_PACKAGES,
  USER,
  WORKDIR,
  repoRoot,
} from '../../deploy/image/manifest.ts';

const containerfile = readFileSync(join(repoRoot, 'Containerfile'), 'utf8');

test('Containerfile reader: continuations, comments, exec form, labels, apt-get install', () => {
  const text = [
    '# comment',
    'FROM a:1 AS build',
    'RUN apt-get update \\',
    '  # inside',
    '  && apt-get install -y --no-install-recommends x y \\',
    '  && rm -rf /z',
    'FROM b',
    'LABEL k="v w" \\',
    '      q=r',
    'ENTRYPOINT ["/n", "a"]',
  ].join('\n');
  const ins = parseInstructions(text);
  assert.deepEqual(
    ins.map((i) => [i.keyword, i.line]),
    [
      ['FROM', 2],
      ['RUN', 3],
      ['FROM', 7],
      ['LABEL', 8],
      ['ENTRYPOINT', 10],
    ],
  );
  assert.deepEqual(aptInstalls(ins[1]!), ['x', 'y']);
  assert.deepEqual(keyValues(ins[3]!), { k: 'v w', q: 'r' });
  const stages = parseStages(text);
  assert.deepEqual(
    stages.map((s) => [s.from, s.name]),
    [
      ['a:1', 'build'],
      ['b', undefined],
    ],
  );
  const rt = runtimeStage(text);
  assert.deepEqual(rt.entrypoint, ['/n', 'a']);
  assert.deepEqual(rt.packages, []);
  assert.throws(() => runtimeStage('FROM x\nCMD run --config y'), /Containerfile:2: CMD is not in exec form/);
  assert.throws(() => parseInstructions('FROM x\nRUN a \\'), /continued past the end/);
});

test('the Containerfile describes the image of deploy/image/manifest.ts: packages, files, entrypoint, user, labels, port', () => {
  const rt = runtimeStage(containerfile);
  assert.equal(rt.base, `docker.io/library/debian:${DEBIAN_SUITE}-slim`);
  assert.equal(LABELS['org.opencontainers.image.base.name'], rt.base);
  assert.deepEqual([...rt.packages].sort(), [...RUNTIME_PACKAGES].sort());
  assert.deepEqual(rt.entrypoint, ENTRYPOINT);
  assert.deepEqual(rt.cmd, CMD);
  assert.equal(rt.user, USER);
  assert.equal(rt.workdir, WORKDIR);
  assert.deepEqual(rt.labels, LABELS);
  assert.deepEqual(rt.ports, [PORT]);
  assert.deepEqual(rt.env, {});
  // Files: the dpkg trim before any package, then exactly what deploy/image/stage.ts assembles.
  assert.deepEqual(rt.copies, [
    { src: DPKG_TRIM_FILE, dest: '/etc/dpkg/dpkg.cfg.d/ebpf-collector-trim' },
    { from: 'build', src: '/out/', dest: '/' },
  ]);
});

test('the Containerfile build stage builds with scripts/setup.sh and stages with deploy/image/stage.ts on the project Node', () => {
  const stages = parseStages(containerfile);
  assert.equal(stages.length, 2);
  const build = stages[0]!;
  assert.equal(build.name, 'build');
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    devDependencies: Record<string, string>;
  };
  const nodeMajor = (pkg.devDependencies['node'] ?? '').split('.')[0];
  assert.equal(build.from, `docker.io/library/node:${nodeMajor}-bookworm`);
  const runs = build.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
  assert.deepEqual(runs, ['bash scripts/setup.sh && node_modules/.bin/node deploy/image/stage.ts /out']);
  // The build context leaves out what the build stage makes itself.
  const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n');
  for (const p of ['node_modules', 'build', 'native/build'])
    assert.ok(ignore.includes(p), `.dockerignore: ${p}`);
});
