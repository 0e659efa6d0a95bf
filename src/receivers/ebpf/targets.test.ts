import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from './config.ts';
import { diagnoseTarget, parseTargetSection, resolveTarget, usdtProbesOf } from './targets.ts';

test('parseTargetSection: libbpf spellings of usdt, uprobe and uretprobe sections', () => {
  assert.deepEqual(parseTargetSection('usdt/python3:python:import__find__load__start'), {
    kind: 'usdt',
    target: 'python3',
    provider: 'python',
    probe: 'import__find__load__start',
  });
  assert.deepEqual(parseTargetSection('usdt//usr/bin/python3.11:python:function__entry'), {
    kind: 'usdt',
    target: '/usr/bin/python3.11',
    provider: 'python',
    probe: 'function__entry',
  });
  assert.deepEqual(parseTargetSection('uretprobe/libc.so.6:malloc'), {
    kind: 'uprobe',
    target: 'libc.so.6',
    func: 'malloc',
    retprobe: true,
  });
  // Offsets and bare sections stay with libbpf.
  assert.equal(parseTargetSection('uprobe/libc.so.6:malloc+4'), undefined);
  assert.equal(parseTargetSection('usdt'), undefined);
  assert.equal(parseTargetSection('tp_btf/timer_start'), undefined);
});

test('resolveTarget: $PATH first, then /usr/bin; paths as given', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-targets-'));
  try {
    const shim = join(dir, 'python3');
    writeFileSync(shim, '#!/bin/sh\n');
    chmodSync(shim, 0o755);
    assert.equal(resolveTarget('python3', { PATH: `${dir}:/usr/bin` }), shim);
    assert.equal(resolveTarget('sh', { PATH: dir }), '/usr/bin/sh');
    assert.equal(resolveTarget('/no/such/file', {}), '/no/such/file');
    assert.equal(resolveTarget('ebpf-collector-no-such-binary', { PATH: dir }), undefined);
    // Not ELF: named as such, whatever the probe.
    assert.deepEqual(usdtProbesOf(shim), { problem: `${shim} is not an ELF file (a script or a shim?)` });
    assert.equal(
      diagnoseTarget({ kind: 'usdt', target: 'python3', provider: 'p', probe: 'n' }, { python3: shim }),
      `${shim} is not an ELF file (a script or a shim?)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('usdtProbesOf: reads provider:name pairs from .note.stapsdt; none in a binary built without them', () => {
  const python = usdtProbesOf('/usr/bin/python3.11');
  if ('probes' in python) assert.ok(python.probes.has('python:import__find__load__start'));
  else assert.fail(python.problem);
  assert.deepEqual(usdtProbesOf('/usr/bin/sh'), {
    problem: '/usr/bin/sh has no USDT notes (.note.stapsdt): built without dtrace/systemtap probes',
  });
  assert.match((usdtProbesOf('/no/such/file') as { problem: string }).problem, /cannot open .*ENOENT/);
});

test('config binaries: values must be absolute paths', () => {
  assert.deepEqual(configSchema.parse({ program: 'usdt' }).binaries, {});
  const bad = configSchema.safeParse({ program: 'usdt', binaries: { python3: 'python3.11' } });
  assert.equal(bad.success, false);
  assert.match(bad.error?.issues[0]?.message ?? '', /absolute path/);
  assert.deepEqual(bad.error?.issues[0]?.path, ['binaries', 'python3']);
});
