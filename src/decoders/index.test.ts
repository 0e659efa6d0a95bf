import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kallsyms } from '../kernel/kallsyms.ts';
import { DecodeError, resumeChain, SKIP } from './decoder.ts';
import { allDecoders, decoderNames } from './index.ts';

test("allDecoders: every one of ebpf_exporter's 18 decoders, by name", () => {
  const registry = allDecoders();
  assert.deepEqual([...registry.keys()].sort(), [...decoderNames].sort());
  assert.equal(registry.size, 18);
  for (const [name, d] of registry) assert.equal(d.name, name);
});

test('allDecoders: resources are created lazily, on first use, once', () => {
  // Paths that do not exist would throw at creation: creating the registry must not touch them.
  const registry = allDecoders({
    kallsyms: { path: '/nonexistent/kallsyms' },
    cgroups: { mountinfoPath: '/nonexistent/mountinfo' },
    interfaces: { sysClassNet: '/nonexistent' },
    pciDb: { paths: ['/nonexistent/pci.ids'] },
  });
  const addr = Buffer.alloc(8, 1);
  assert.throws(() => registry.get('ksym')?.decode(addr, { name: 'ksym' }), DecodeError);
  assert.throws(() => registry.get('kstack')?.decode(addr, { name: 'kstack' }), DecodeError);
  assert.throws(() => registry.get('cgroup')?.decode('5', { name: 'cgroup' }), DecodeError);
  assert.equal(registry.get('pci_vendor')?.decode('32902', { name: 'pci_vendor' }), 'missing pci.ids db');
  assert.equal(registry.get('ifname')?.decode(Buffer.from([1, 0, 0, 0]), { name: 'ifname' }), 'unknown:1');
});

test('allDecoders: a shared Kallsyms instance is used as is; chains run across builtin and kernel decoders', () => {
  const ksyms = new Kallsyms();
  const registry = allDecoders({ kallsyms: ksyms });
  const schedule = ksyms.addressOf('schedule') as bigint;
  const key = Buffer.alloc(8);
  key.writeBigUInt64LE(schedule);
  const slot = resumeChain({ name: 'f', value: key, pending: [{ name: 'ksym' }] }, registry);
  assert.ok(slot !== SKIP && slot.value === 'schedule');
  const errno = resumeChain(
    { name: 'e', value: Buffer.from([32, 0, 0, 0]), pending: [{ name: 'uint' }, { name: 'errno' }] },
    registry,
  );
  assert.ok(errno !== SKIP && errno.value === 'EPIPE');
});
