import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { InterfaceNames } from '../kernel/interfaces.ts';
import { DecodeError } from './decoder.ts';
import { ifnameDecoder } from './ifname.ts';

const spec = { name: 'ifname' };
const u32 = (n: number): Uint8Array => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const ip = (...args: string[]): string =>
  execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const canIp = ((): boolean => {
  try {
    return process.getuid?.() === 0 && ip('-V').length > 0;
  } catch {
    return false;
  }
})();
const ifindex = (name: string): number => Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'));

test('ifname: lo is ifindex 1', () => {
  const d = ifnameDecoder(() => new InterfaceNames());
  assert.equal(d.decode(u32(1), spec), 'lo');
});

test(
  'ifname: a veth pair with one end in a test-owned netns — rename and delete are seen, unknown is not cached',
  { skip: !canIp && 'needs root and iproute2' },
  (t) => {
    const ns = `ectest-${process.pid}`;
    const a = `ect${process.pid}a`;
    const b = `ect${process.pid}b`;
    const c = `ect${process.pid}c`;
    t.after(() => {
      for (const name of [a, c]) {
        try {
          ip('link', 'del', name);
        } catch {
          // already gone
        }
      }
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    });
    ip('netns', 'add', ns);
    ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
    const ia = ifindex(a);
    const ib = ifindex(b);
    ip('link', 'set', b, 'netns', ns);

    let now = 0;
    const names = new InterfaceNames({ now: () => now, revalidateMs: 1000, rescanIntervalMs: 1000 });
    const d = ifnameDecoder(() => names);
    assert.equal(d.decode(u32(ia), spec), a);
    assert.equal(d.decode(u32(ib), spec), `unknown:${ib}`, 'the peer lives in another netns');
    assert.equal(d.decode(u32(1), spec), 'lo');

    ip('link', 'set', a, 'name', c);
    assert.equal(d.decode(u32(ia), spec), a, 'within revalidateMs the cached name stands');
    now += 1000;
    assert.equal(d.decode(u32(ia), spec), c, 'after it, the rename is noticed');

    ip('link', 'del', c); // takes the peer in the netns with it
    now += 1000;
    assert.equal(d.decode(u32(ia), spec), `unknown:${ia}`, 'deleted');
    const scans = names.scans;
    assert.equal(d.decode(u32(ia), spec), `unknown:${ia}`);
    assert.equal(names.scans, scans, 'misses rescan at most once per interval');
  },
);

test('ifname: malformed input is a DecodeError', () => {
  const d = ifnameDecoder(() => new InterfaceNames());
  assert.throws(() => d.decode(new Uint8Array(2), spec), DecodeError);
  assert.throws(() => d.decode(new Uint8Array(6), spec), DecodeError);
  assert.throws(() => d.decode('1', spec), DecodeError);
  assert.equal(
    d.decode(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), spec),
    'lo',
    '8 bytes read the first 4, as ebpf_exporter',
  );
});

test('ifname: no sysfs means every index is unknown', () => {
  const d = ifnameDecoder(() => new InterfaceNames({ sysClassNet: '/nonexistent' }));
  assert.equal(d.decode(u32(1), spec), 'unknown:1');
});
