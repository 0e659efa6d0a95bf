import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers/agent.ts';

/**
 * The arm64 BPF objects (`make -C bpf ARCH=arm64`, built by `scripts/setup.sh --test`):
 * every shipped program is there, with the same programs as its x86 build, and they
 * really are arm64's — compiled with __TARGET_ARCH_arm64 against the BTF of Debian's
 * arm64 kernel (read out of a qemu boot by scripts/kernels/prepare.sh --arch arm64 --btf).
 * kprobe arguments are read from pt_regs, whose layout is per architecture: x86's has
 * di/si/dx…, arm64's wraps `struct user_pt_regs { regs[31]; sp; pc; pstate }`.
 */

const x86 = join(repoRoot, 'build', 'bpf');
const arm64 = join(repoRoot, 'build', 'bpf-arm64');
const shipped = readdirSync(join(repoRoot, 'bpf'))
  .filter((f) => f.endsWith('.bpf.c'))
  .map((f) => f.slice(0, -'.bpf.c'.length))
  .sort();

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** Program sections of an object (kprobe/…, tracepoint/…, usdt/…): not .maps, .BTF, .rel*, license. */
function programSections(obj: string): string[] {
  return run('llvm-objdump', ['-h', obj])
    .split('\n')
    .map((l) => /^\s*\d+\s+(\S+)\s+[0-9a-f]+\s+[0-9a-f]+\s+TEXT\b/.exec(l)?.[1])
    .filter((s): s is string => s !== undefined && s !== '.text')
    .sort();
}

/** The members of the object's BTF `struct pt_regs` (the ctx type of its kprobe programs). */
function ptRegsMembers(obj: string): string[] | undefined {
  const dump = run('bpftool', ['btf', 'dump', 'file', obj]);
  const m = /^\[\d+\] STRUCT 'pt_regs' size=\d+ vlen=\d+\n((?:\t.*\n)*)/m.exec(dump);
  return m?.[1]?.split('\n').flatMap((l) => /^\t'([^']+)'/.exec(l)?.[1] ?? []);
}

test('every shipped program is built for arm64, with its definition beside it', () => {
  assert.ok(
    existsSync(arm64),
    'build/bpf-arm64 is missing: run `bash scripts/setup.sh --test` or `make -C bpf ARCH=arm64`',
  );
  const missing = shipped.filter(
    (n) => !existsSync(join(arm64, `${n}.bpf.o`)) || !existsSync(join(arm64, `${n}.yaml`)),
  );
  assert.deepEqual(missing, [], `not built for arm64: ${missing.join(', ')}`);
  assert.ok(shipped.length >= 10, `only ${shipped.length} shipped programs found`);
});

test("each arm64 object has the same programs as the object built for this machine's x86_64", () => {
  for (const name of shipped) {
    const a = programSections(join(arm64, `${name}.bpf.o`));
    assert.ok(a.length > 0, `${name}: no program sections`);
    assert.deepEqual(a, programSections(join(x86, `${name}.bpf.o`)), name);
  }
});

test("the arm64 vmlinux.h is an arm64 kernel's: arm64's pt_regs, not x86's", () => {
  const h = readFileSync(join(arm64, 'vmlinux.h'), 'utf8');
  assert.match(h, /^struct user_pt_regs \{\n\t__u64 regs\[31\];\n\t__u64 sp;\n\t__u64 pc;/m);
  assert.match(h, /^struct pt_regs \{\n\tunion \{\n\t\tstruct user_pt_regs user_regs;/m);
  assert.doesNotMatch(h, /^struct pt_regs \{\n\tlong unsigned int r15;/m);
  // And the x86 build's is x86's: the two are not the same header.
  assert.match(readFileSync(join(x86, 'vmlinux.h'), 'utf8'), /^struct pt_regs \{\n\tlong unsigned int r15;/m);
});

test('kprobe programs carry arm64 pt_regs in their BTF and read arguments from regs[n]', () => {
  let withRegs = 0;
  for (const name of shipped) {
    const members = ptRegsMembers(join(arm64, `${name}.bpf.o`));
    if (members === undefined) continue; // no kprobe/uprobe/usdt program: no pt_regs
    withRegs += 1;
    assert.ok(
      members.includes('orig_x0') && !members.includes('di'),
      `${name}: pt_regs ${members.join(',')}`,
    );
    const x86Members = ptRegsMembers(join(x86, `${name}.bpf.o`));
    if (x86Members) assert.ok(x86Members.includes('di'), `${name}: x86 pt_regs ${x86Members.join(',')}`);
  }
  assert.ok(withRegs >= 5, `only ${withRegs} shipped objects have kprobe-style programs`);
  // __TARGET_ARCH_* picks where BPF_KPROBE finds an argument: the second one of
  // inet_csk_reqsk_queue_hash_add(sk, req, timeout) is x86's si (offset 104) and
  // arm64's regs[1] (offset 8).
  const first = (dir: string): string => {
    const text = run('llvm-objdump', [
      '-d',
      '--no-show-raw-insn',
      '--section=kprobe/inet_csk_reqsk_queue_hash_add',
      join(dir, 'accept-latency.bpf.o'),
    ]);
    return /^\s+0:\s+(.*)$/m.exec(text)?.[1]?.trim() ?? text;
  };
  assert.equal(first(x86), 'r1 = *(u64 *)(r1 + 104)');
  assert.equal(first(arm64), 'r1 = *(u64 *)(r1 + 8)');
});

/** `make -C bpf` with `uname -m` answering `machine` (a shim first on $PATH), the rest of $PATH as it is. */
function makeAs(machine: string, args: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-uname-'));
  try {
    const real = run('sh', ['-c', 'command -v uname']).trim();
    writeFileSync(
      join(dir, 'uname'),
      `#!/bin/sh\n[ "$1" = -m ] && exec echo ${machine}\nexec ${real} "$@"\n`,
    );
    chmodSync(join(dir, 'uname'), 0o755);
    const r = spawnSync('make', ['-C', join(repoRoot, 'bpf'), ...args], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${dir}:${process.env['PATH'] ?? ''}` },
    });
    assert.equal(r.status, 0, `make ${args.join(' ')} as ${machine}: ${r.stderr}`);
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("bpf/Makefile builds for the machine it runs on (uname -m), as the Containerfile's build stage does on an arm64 builder", () => {
  // What plain `make -C bpf` would do (-n: print, -B: every target), per machine.
  const plan = (machine: string, args: string[] = []): { out: string; arch: string; btf: string } => {
    const text = makeAs(machine, ['-nB', ...args]);
    const clang =
      text.split('\n').find((l) => l.includes(' -target bpf ') && l.includes('accept-latency')) ?? '';
    return {
      out: /-o (\S+)\/accept-latency\.bpf\.o/.exec(clang)?.[1] ?? clang,
      arch: /-D__TARGET_ARCH_(\w+)/.exec(clang)?.[1] ?? clang,
      btf: /btf='([^']*)'/.exec(text)?.[1] ?? text,
    };
  };
  const native = { out: x86, btf: '/sys/kernel/btf/vmlinux' };
  assert.deepEqual(plan('x86_64'), { ...native, arch: 'x86' });
  assert.deepEqual(plan('aarch64'), { ...native, arch: 'arm64' });
  // Another architecture is a cross build: its own folder, Debian's kernel's BTF (prepare.sh).
  assert.deepEqual(plan('x86_64', ['ARCH=arm64']), { out: arm64, arch: 'arm64', btf: '' });
  assert.deepEqual(plan('aarch64', ['ARCH=x86']), {
    out: join(repoRoot, 'build', 'bpf-amd64'),
    arch: 'x86',
    btf: '',
  });
  // And a real build as on an aarch64 machine (its kernel's vmlinux.h given: the arm64 guest
  // kernel's) gives the instructions of the cross build.
  const out = mkdtempSync(join(tmpdir(), 'ebpf-native-arm64-'));
  try {
    mkdirSync(out, { recursive: true });
    copyFileSync(join(arm64, 'vmlinux.h'), join(out, 'vmlinux.h'));
    const objects = ['accept-latency', 'uprobe'];
    makeAs('aarch64', ['-s', `OUT=${out}`, ...objects.map((o) => join(out, `${o}.bpf.o`))]);
    const insns = (obj: string): string =>
      run('llvm-objdump', ['-d', '--no-show-raw-insn', obj]).split('\n').slice(2).join('\n');
    for (const o of objects)
      assert.equal(insns(join(out, `${o}.bpf.o`)), insns(join(arm64, `${o}.bpf.o`)), o);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
