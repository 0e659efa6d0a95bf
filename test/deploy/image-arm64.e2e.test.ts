/**
 * The arm64 image beside the amd64 one (`npm run image -- --arch arm64`): the same configuration,
 * the same files and packages under the same content rules, every binary aarch64, both under the
 * manifest list, and the arm64 image running its entrypoint under qemu-user (binfmt_misc).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  APP_DIR,
  FORBIDDEN_PACKAGES,
  IMAGE_REF,
  IMAGE_VERSION,
  INIT_PATH,
  NODE_PATH,
  RUNTIME_PACKAGES,
  imageRef,
} from '../../deploy/image/manifest.ts';
import { HOST_RUN_FLAGS, podman, podmanRun } from '../../deploy/image/podman.ts';
import { stage } from '../../deploy/image/stage.ts';
import { ARCHIVE } from '../../scripts/image.ts';
import { EM_AARCH64, EM_X86_64, elfHeader } from '../../scripts/arm64/layout.ts';
import { installedPackages, testImage, tree } from '../helpers/image.ts';

const EM_BPF = 247;

// Both images (scripts/image.ts; the arm64 one cold: several minutes, mostly mmdebstrap under qemu-user).
const amd64 = await testImage('amd64');
const arm64 = 'skip' in amd64 ? amd64 : await testImage('arm64');
const skip = 'skip' in arm64 ? arm64.skip : 'skip' in amd64 ? amd64.skip : false;

interface Config {
  Architecture: string;
  Os: string;
  Config: Record<string, unknown>;
}
const inspect = (ref: string): Config => (JSON.parse(podman(['image', 'inspect', ref])) as Config[])[0]!;

/**
 * ELF machine → how many files, over every regular file under `root` (symlinks not followed: an
 * image's /dev/fd points at the host's /proc); `where` keeps one path per machine.
 */
function elfMachines(root: string): {
  count: Map<number, number>;
  where: Map<number, string>;
  ours: string[];
} {
  const count = new Map<number, number>();
  const where = new Map<number, string>();
  const ours: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const h = lstatSync(p).size >= 20 ? elfHeader(p) : undefined;
        if (!h) continue;
        const rel = p.slice(root.length);
        count.set(h.machine, (count.get(h.machine) ?? 0) + 1);
        if (!where.has(h.machine)) where.set(h.machine, rel);
        if (rel.startsWith(`${APP_DIR}/`) || rel.startsWith('/usr/local/')) ours.push(rel);
      }
    }
  };
  walk(root);
  return { count, where, ours: ours.sort() };
}

describe('the arm64 image beside the amd64 image', { skip }, () => {
  const roots = new Map<string, string>();
  before(() => {
    for (const arch of ['amd64', 'arm64'] as const)
      roots.set(arch, podman(['image', 'mount', imageRef(arch)]).trim());
  });
  after(() => {
    for (const arch of ['amd64', 'arm64'] as const) podmanRun(['image', 'unmount', imageRef(arch)]);
  });

  it('has the same configuration, for linux/arm64', () => {
    const a = inspect(imageRef('amd64'));
    const b = inspect(imageRef('arm64'));
    assert.deepEqual([a.Os, a.Architecture, b.Os, b.Architecture], ['linux', 'amd64', 'linux', 'arm64']);
    const pick = (c: Config) => {
      const { Entrypoint, Cmd, User, WorkingDir, Labels, ExposedPorts, Env } = c.Config;
      return { Entrypoint, Cmd, User, WorkingDir, Labels, ExposedPorts, Env };
    };
    assert.deepEqual(pick(b), pick(a));
  });

  it('holds the same files and packages as the amd64 image: only the binaries and BPF objects differ', () => {
    const a = roots.get('amd64')!;
    const b = roots.get('arm64')!;
    const ta = tree(join(a, APP_DIR));
    const tb = tree(join(b, APP_DIR));
    assert.deepEqual(
      [...ta.keys()].filter((k) => !tb.has(k)).concat([...tb.keys()].filter((k) => !ta.has(k))),
      [],
      'the same paths under the agent tree',
    );
    const differ = [...ta].filter(([k, size]) => tb.get(k) !== size).map(([k]) => k);
    const archSpecific = (k: string): boolean =>
      k === 'native/build/Release/ebpf_native.node' || /^build\/bpf\/[^/]+\.bpf\.o$/.test(k);
    assert.deepEqual(
      differ.filter((k) => !archSpecific(k)),
      [],
      'JavaScript, tables, pipelines and YAML are the same',
    );
    assert.ok(differ.includes('native/build/Release/ebpf_native.node'));
    for (const p of [NODE_PATH, INIT_PATH]) assert.ok(lstatSync(join(b, p)).isFile(), p);

    const pa = installedPackages(a);
    const pb = installedPackages(b);
    assert.deepEqual([...pb].sort(), [...pa].sort(), 'the same Debian packages');
    for (const p of RUNTIME_PACKAGES) assert.ok(pb.has(p), `package ${p} installed`);
    assert.deepEqual(
      FORBIDDEN_PACKAGES.filter((p) => pb.has(p)),
      [],
    );
    const arch = execFileSync('chroot', [b, '/usr/bin/dpkg', '--print-architecture'], { encoding: 'utf8' });
    assert.equal(arch.trim(), 'arm64');
    // dpkg's trim, as in the amd64 image: no docs but copyright files, no man pages, locales, headers.
    for (const dir of ['usr/share/man', 'usr/share/locale', 'usr/include']) {
      const files = tree(join(b, dir));
      assert.deepEqual(
        [...files].filter(([, size]) => size >= 0).map(([k]) => k),
        [],
        `no files under /${dir}`,
      );
    }
  });

  it('every binary in it is aarch64 (BPF objects aside); every one in the amd64 image x86_64', () => {
    const b = elfMachines(roots.get('arm64')!);
    const a = elfMachines(roots.get('amd64')!);
    const others = (m: ReturnType<typeof elfMachines>, want: number) =>
      [...m.count.keys()].filter((k) => k !== want && k !== EM_BPF).map((k) => `${k}: ${m.where.get(k)}`);
    assert.deepEqual(others(b, EM_AARCH64), []);
    assert.deepEqual(others(a, EM_X86_64), []);
    assert.ok((b.count.get(EM_AARCH64) ?? 0) > 50, `aarch64 ELF files: ${b.count.get(EM_AARCH64)}`);
    // The agent's own binaries (Node, init, addon, BPF objects) are the same files on both; Debian's
    // differ a little by architecture (amd64's libc6 has libmvec, arm64's has not).
    assert.deepEqual(b.ours, a.ours);
    assert.ok(b.ours.includes(NODE_PATH) && b.ours.includes(INIT_PATH), b.ours.join(' '));
    process.stderr.write(
      `# ELF files: arm64 image ${b.count.get(EM_AARCH64)} aarch64 + ${b.count.get(EM_BPF)} BPF; amd64 image ${a.count.get(EM_X86_64)} x86_64\n`,
    );
  });

  it('holds exactly the staged arm64 files of this checkout', () => {
    const staged = mkdtempSync(join(tmpdir(), 'image-stage-arm64-'));
    try {
      stage(staged, undefined, 'arm64');
      const want = tree(join(staged, APP_DIR));
      const got = tree(join(roots.get('arm64')!, APP_DIR));
      assert.deepEqual(
        [...want].filter(([k, size]) => got.get(k) !== size).map(([k]) => k),
        [],
      );
      assert.equal(got.size, want.size);
    } finally {
      rmSync(staged, { recursive: true, force: true });
    }
  });

  it('the manifest list names both images by platform, and its OCI archive holds both', () => {
    const list = JSON.parse(podman(['manifest', 'inspect', IMAGE_REF])) as {
      manifests: { digest: string; platform: { architecture: string; os: string } }[];
    };
    const platforms = list.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`).sort();
    assert.deepEqual(platforms, ['linux/amd64', 'linux/arm64']);
    const index = JSON.parse(execFileSync('tar', ['-xOf', ARCHIVE, 'index.json'], { encoding: 'utf8' })) as {
      manifests: { mediaType: string; digest: string }[];
    };
    assert.equal(index.manifests.length, 1);
    const [top] = index.manifests;
    const blob = `blobs/sha256/${top!.digest.slice('sha256:'.length)}`;
    const inner = JSON.parse(execFileSync('tar', ['-xOf', ARCHIVE, blob], { encoding: 'utf8' })) as {
      manifests: { platform: { architecture: string } }[];
    };
    assert.deepEqual(inner.manifests.map((m) => m.platform.architecture).sort(), ['amd64', 'arm64']);
  });

  it('runs under qemu-user: the agent reports its version and validates the default pipeline', () => {
    const run = (args: string[]) =>
      podmanRun(['run', '--rm', '--network', 'none', ...HOST_RUN_FLAGS, imageRef('arm64'), ...args]);
    const v = run(['--version']);
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout.trim(), IMAGE_VERSION);
    const ok = run(['validate', '--config', `${APP_DIR}/pipelines/default.yaml`]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /default\.yaml: valid/);
    const uname = podmanRun([
      'run',
      '--rm',
      '--network',
      'none',
      ...HOST_RUN_FLAGS,
      '--entrypoint',
      NODE_PATH,
      imageRef('arm64'),
      '-p',
      'process.arch',
    ]);
    assert.equal(uname.stdout.trim(), 'arm64', uname.stderr);
  });
});
