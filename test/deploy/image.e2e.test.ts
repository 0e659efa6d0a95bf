import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  APP_DIR,
  CMD,
  ENTRYPOINT,
  FORBIDDEN_PACKAGES,
  IMAGE_VERSION,
  LABELS,
  NODE_PATH,
  PORT,
  RUNTIME_PACKAGES,
  USER,
  WORKDIR,
} from '../../deploy/image/manifest.ts';
import { HOST_RUN_FLAGS, podman, podmanRun, PODMAN_GLOBAL_FLAGS } from '../../deploy/image/podman.ts';
import { stage } from '../../deploy/image/stage.ts';
import { ARCHIVE, imageSize } from '../../scripts/image.ts';
import { installedPackages as installed, testImage, tree } from '../helpers/image.ts';

// Builds the image when it is missing or stale (scripts/image.ts; cold: about 1.5–4 minutes).
const image = await testImage();
const skip = 'skip' in image ? image.skip : false;
const ref = 'skip' in image ? '' : image.ref;

test(
  'the built image carries the manifest configuration: entrypoint, command, user, workdir, labels, port',
  { skip },
  () => {
    const [info] = JSON.parse(podman(['image', 'inspect', ref])) as {
      Config: {
        Entrypoint?: string[];
        Cmd?: string[];
        User?: string;
        WorkingDir?: string;
        Labels?: Record<string, string>;
        ExposedPorts?: Record<string, unknown>;
      };
      Size: number;
    }[];
    assert.ok(info);
    assert.deepEqual(info.Config.Entrypoint, ENTRYPOINT);
    assert.deepEqual(info.Config.Cmd, CMD);
    assert.equal(info.Config.User, USER);
    assert.equal(info.Config.WorkingDir, WORKDIR);
    assert.deepEqual(info.Config.Labels, LABELS);
    assert.deepEqual(Object.keys(info.Config.ExposedPorts ?? {}), [PORT]);
    assert.equal(LABELS['org.opencontainers.image.version'], IMAGE_VERSION);
    assert.ok(existsSync(ARCHIVE), `OCI archive ${ARCHIVE}`);
    const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
    process.stderr.write(
      `# image ${ref}: ${mb(imageSize(ref))}; OCI archive ${mb(statSync(ARCHIVE).size)}\n`,
    );
  },
);

test(
  'the built image holds exactly the staged files of this checkout, the runtime packages, and no compilers, npm, docs or headers',
  { skip },
  () => {
    const root = podman(['image', 'mount', ref]).trim();
    const staged = mkdtempSync(join(tmpdir(), 'image-stage-'));
    try {
      stage(staged);
      // The agent's tree, file by file (sizes included), and the Node binary.
      const want = tree(join(staged, APP_DIR));
      const got = tree(join(root, APP_DIR));
      const missing = [...want.keys()].filter((k) => !got.has(k));
      const extra = [...got.keys()].filter((k) => !want.has(k));
      assert.deepEqual(
        { missing: missing.slice(0, 10), extra: extra.slice(0, 10) },
        { missing: [], extra: [] },
      );
      const differ = [...want].filter(([k, size]) => got.get(k) !== size).map(([k]) => k);
      assert.deepEqual(differ, []);
      assert.equal(statSync(join(root, NODE_PATH)).size, statSync(join(staged, NODE_PATH)).size);
      assert.ok(!existsSync(join(root, APP_DIR, 'src')), 'no TypeScript sources');
      assert.ok(!existsSync(join(root, APP_DIR, 'node_modules', 'typescript')), 'no dev dependencies');

      const pkgs = installed(root);
      for (const p of RUNTIME_PACKAGES) assert.ok(pkgs.has(p), `package ${p} installed`);
      const forbidden = FORBIDDEN_PACKAGES.filter((p) => pkgs.has(p));
      assert.deepEqual(forbidden, [], 'no compilers, headers, npm');
      for (const bin of ['usr/bin/npm', 'usr/bin/clang', 'usr/bin/gcc', 'usr/bin/cc'])
        assert.ok(!existsSync(join(root, bin)), `no ${bin}`);

      // dpkg's trim: no docs (copyright files aside), manual pages, locales, headers.
      const regularFiles = (dir: string): string[] =>
        existsSync(join(root, dir))
          ? (readdirSync(join(root, dir), { recursive: true }) as string[]).filter((f) =>
              lstatSync(join(root, dir, f)).isFile(),
            )
          : [];
      assert.deepEqual(
        regularFiles('usr/share/doc').filter((f) => !f.endsWith('/copyright')),
        [],
      );
      for (const dir of ['usr/share/man', 'usr/share/locale', 'usr/include'])
        assert.deepEqual(regularFiles(dir).slice(0, 5), [], `no files under /${dir}`);
    } finally {
      rmSync(staged, { recursive: true, force: true });
      podmanRun(['image', 'unmount', ref]);
    }
  },
);

test(
  'the image runs its entrypoint: the agent reports its version and validates a shipped pipeline',
  { skip },
  () => {
    const run = (args: string[]) =>
      podmanRun(['run', '--rm', '--network', 'none', ...HOST_RUN_FLAGS, ref, ...args]);
    const v = run(['--version']);
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout.trim(), IMAGE_VERSION);
    const ok = run(['validate', '--config', `${APP_DIR}/pipelines/default.yaml`]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /default\.yaml: valid/);
    assert.ok(PODMAN_GLOBAL_FLAGS.includes('runc'));
  },
);
