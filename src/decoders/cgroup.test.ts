import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cgroups } from '../kernel/cgroups.ts';
import { cgroupDecoder } from './cgroup.ts';
import { DecodeError } from './decoder.ts';

const spec = { name: 'cgroup' };

test('cgroup: decimal id → path; unknown → unknown_cgroup_id:<id> as ebpf_exporter prints it', () => {
  const base = mkdtempSync(join(tmpdir(), 'cg-'));
  try {
    mkdirSync(join(base, 'system.slice', 'x.service'), { recursive: true });
    const id = statSync(join(base, 'system.slice', 'x.service'), { bigint: true }).ino;
    const d = cgroupDecoder(
      () => new Cgroups({ hierarchies: [{ version: 2, mountPoint: base, controllers: [] }] }),
    );
    assert.equal(d.decode(id.toString(), spec), join(base, 'system.slice', 'x.service'));
    assert.equal(
      d.decode('+' + id.toString(), spec),
      join(base, 'system.slice', 'x.service'),
      'Atoi accepts a sign',
    );
    assert.equal(d.decode('999999999999', spec), 'unknown_cgroup_id:999999999999');
    assert.equal(d.decode('0', spec), 'unknown_cgroup_id:0');
    assert.equal(d.decode('-5', spec), 'unknown_cgroup_id:-5');
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('cgroup: live — our own cgroup2 id resolves under the cgroup2 mount', () => {
  const d = cgroupDecoder(() => new Cgroups());
  assert.match(d.decode('1', spec) as string, /^\/.+/, 'the root cgroup id');
});

test('cgroup: malformed input and an unreadable mountinfo are DecodeErrors', () => {
  const d = cgroupDecoder(() => new Cgroups({ mountinfoPath: '/nonexistent/mountinfo' }));
  for (const bad of ['', 'abc', '12a', '9223372036854775808'])
    assert.throws(() => d.decode(bad, spec), DecodeError, bad);
  assert.throws(
    () => d.decode('5', spec),
    (e: unknown) => e instanceof DecodeError && /nonexistent/.test(e.message),
  );
});
