/**
 * The arm64 build (scripts/arm64/build.ts) for real: its binaries are aarch64 ELF files, every
 * library they need is in the Debian arm64 runtime tree, and the arm64 Node loads the arm64
 * addon and calls it under qemu-aarch64-static with only that tree as its root for libraries.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildArm64 } from '../../scripts/arm64/build.ts';
import {
  ADDON,
  EM_AARCH64,
  EM_X86_64,
  INIT,
  NODE,
  RUNTIME_DIR,
  TRIPLET,
  elfHeader,
  nodeVersion,
} from '../../scripts/arm64/layout.ts';
import { commands, gypTargets } from '../../scripts/arm64/native.ts';
import { repoRoot } from '../../deploy/image/manifest.ts';
import { ADDON_PATH } from '../../src/native/addon.ts';

const QEMU = 'qemu-aarch64-static';

/** Runs an arm64 program under qemu-user with the runtime tree as its library root. */
function arm64(
  args: readonly string[],
  timeout = 60_000,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(QEMU, ['-L', RUNTIME_DIR, ...args], { encoding: 'utf8', timeout });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The NEEDED entries and the interpreter of an arm64 ELF file (cross binutils' readelf). */
function dynamic(path: string): { needed: string[]; interp?: string } {
  const out = spawnSync(`${TRIPLET}-readelf`, ['-d', '-l', '-W', path], { encoding: 'utf8' }).stdout;
  const needed = [...out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1] ?? '');
  const interp = /\[Requesting program interpreter: ([^\]]+)\]/.exec(out)?.[1];
  return { needed, ...(interp ? { interp } : {}) };
}

describe('arm64 build: addon, init and Node for aarch64', { timeout: 20 * 60_000 }, () => {
  let built: string[] = [];
  before(() => {
    built = buildArm64((line) => process.stderr.write(`[arm64] ${line}\n`));
  });
  after(() => {
    process.stderr.write(`[arm64] build steps that ran: ${built.join(', ') || 'none (up to date)'}\n`);
  });

  it('makes aarch64 ELF files (the host addon is x86_64)', () => {
    for (const f of [ADDON, INIT, NODE]) assert.deepEqual(elfHeader(f), { bits: 64, machine: EM_AARCH64 }, f);
    assert.deepEqual(elfHeader(ADDON_PATH), { bits: 64, machine: EM_X86_64 });
    assert.equal(elfHeader(join(RUNTIME_DIR, '.debs')), undefined);
  });

  it('compiles every source of native/binding.gyp into them', () => {
    const syms = spawnSync(`${TRIPLET}-nm`, ['-D', '--defined-only', ADDON], { encoding: 'utf8' }).stdout;
    assert.match(syms, /\bnapi_register_module_v1\b/);
    const args = commands().flatMap((c) => c.args);
    for (const t of gypTargets().values())
      for (const src of t.sources) assert.ok(args.includes(join(repoRoot, 'native', src)), src);
  });

  it('needs only libraries the Debian arm64 runtime tree holds', () => {
    const dirs = ['lib', `lib/${TRIPLET}`, `usr/lib/${TRIPLET}`].map((d) => join(RUNTIME_DIR, d));
    for (const f of [ADDON, INIT, NODE]) {
      const { needed, interp } = dynamic(f);
      assert.ok(needed.includes('libc.so.6'), `${f} needs libc: ${needed.join(' ')}`);
      for (const lib of needed)
        assert.ok(
          dirs.some((d) => existsSync(join(d, lib))),
          `${f} needs ${lib}, not in ${RUNTIME_DIR}`,
        );
      if (f !== ADDON) assert.equal(interp, '/lib/ld-linux-aarch64.so.1');
    }
    assert.ok(dynamic(ADDON).needed.includes('libbpf.so.1'));
    assert.ok(existsSync(join(RUNTIME_DIR, 'lib/ld-linux-aarch64.so.1')));
  });

  it('the arm64 Node loads the arm64 addon and calls it under qemu-aarch64-static', () => {
    const script = `
      const a = require(${JSON.stringify(ADDON)});
      console.log(JSON.stringify({
        arch: process.arch, version: process.version, libbpf: a.libbpfVersion(),
        enoent: a.errnoText(2), pid: a.syscallGetpid(3) === process.pid,
        cpus: a.numPossibleCpus, exports: Object.keys(a).length,
      }));`;
    const r = arm64([NODE, '-e', script]);
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout) as Record<string, unknown>;
    // libbpf's version from the runtime tree's libbpf1 (1:1.1.2-… → v1.1).
    const debs = readFileSync(join(RUNTIME_DIR, '.debs'), 'utf8');
    const v = /^libbpf1:arm64=(?:\d+:)?(\d+)\.(\d+)\./m.exec(debs);
    assert.ok(v, debs);
    // The kernel's possible CPUs ("0-1", "0-3,8-11"): libbpf reads the same file under qemu-user.
    const possible = readFileSync('/sys/devices/system/cpu/possible', 'utf8')
      .trim()
      .split(',')
      .reduce((n, r) => {
        const [lo, hi] = r.split('-').map(Number);
        return n + (hi ?? lo ?? 0) - (lo ?? 0) + 1;
      }, 0);
    assert.deepEqual(got, {
      arch: 'arm64',
      version: `v${nodeVersion()}`,
      libbpf: `v${v[1]}.${v[2]}`,
      enoent: got['enoent'],
      pid: true,
      cpus: possible,
      exports: got['exports'],
    });
    assert.match(String(got['enoent']), /^ENOENT\b/);
    assert.ok(Number(got['exports']) >= 10);
  });

  it('the host Node refuses the arm64 addon (the check above can tell the architectures apart)', () => {
    assert.throws(() => process.dlopen({ exports: {} }, ADDON), /ELF|wrong|cannot open/i);
  });

  it('the arm64 init runs its program and passes on its exit status and SIGTERM', async () => {
    const ok = arm64([INIT, '/bin/sh', '-c', 'exit 7']);
    assert.equal(ok.status, 7, ok.stderr);
    const usage = arm64([INIT]);
    assert.notEqual(usage.status, 0);
    assert.match(usage.stderr, /usage: ebpf-collector-init/);
    // SIGTERM to the init reaches the program (sh traps it and exits 3).
    const child = spawn(
      QEMU,
      ['-L', RUNTIME_DIR, INIT, '/bin/sh', '-c', 'trap "exit 3" TERM; echo up; while :; do sleep 0.1; done'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    await new Promise<void>((res, rej) => {
      child.stdout.once('data', () => res());
      child.once('exit', (code) => rej(new Error(`init exited ${code} before its program started`)));
    });
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
    assert.equal(code, 3);
  });
});
