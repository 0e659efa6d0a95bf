import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecodeError } from './decoder.ts';
import { decodeDev, majorMinorDecoder } from './majorminor.ts';

const spec = { name: 'majorminor' };
/** The kernel's new_encode_dev. */
const encode = (major: number, minor: number): number =>
  ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
const u32 = (n: number): Uint8Array => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

test('majorminor: a real device of /proc/partitions resolves by its new_encode_dev value', () => {
  const rows = readFileSync('/proc/partitions', 'utf8')
    .trim()
    .split('\n')
    .slice(2)
    .map((l) => l.trim().split(/\s+/));
  assert.ok(rows.length > 0, 'this machine lists at least one block device');
  const d = majorMinorDecoder();
  for (const [maj, min, , name] of rows)
    assert.equal(d.decode(u32(encode(Number(maj), Number(min))), spec), name);
});

test('majorminor: encoding round trip, large minors, unknown not cached, 8-byte labels', () => {
  assert.deepEqual(decodeDev(encode(259, 1048575)), { major: 259, minor: 1048575 });
  assert.deepEqual(decodeDev(encode(8, 17)), { major: 8, minor: 17 });
  const dir = mkdtempSync(join(tmpdir(), 'partitions-'));
  const file = join(dir, 'partitions');
  writeFileSync(file, 'major minor  #blocks  name\n\n   8        0  1000 sda\n 259   300  10 nvme0n1p300\n');
  const d = majorMinorDecoder({ partitionsPath: file });
  assert.equal(d.decode(u32(encode(8, 0)), spec), 'sda');
  assert.equal(d.decode(u32(encode(259, 300)), spec), 'nvme0n1p300');
  assert.equal(d.decode(u32(encode(8, 16)), spec), 'unknown:8:16');
  writeFileSync(file, 'major minor  #blocks  name\n\n   8       16  1000 sdb\n');
  assert.equal(d.decode(u32(encode(8, 16)), spec), 'sdb', 'the miss was not cached');
  assert.equal(d.decode(u32(encode(8, 0)), spec), 'sda', 'a hit is cached');
  const eight = Buffer.alloc(8);
  eight.writeUInt32LE(encode(8, 0));
  assert.equal(d.decode(eight, spec), 'sda', 'like ebpf_exporter, 8 bytes read the first 4');
});

test('majorminor: malformed input and an unreadable /proc/partitions are DecodeErrors', () => {
  const d = majorMinorDecoder({ partitionsPath: '/nonexistent/partitions' });
  assert.throws(() => d.decode(new Uint8Array(2), spec), DecodeError);
  assert.throws(() => d.decode(new Uint8Array(5), spec), DecodeError);
  assert.throws(() => d.decode('2048', spec), DecodeError);
  assert.throws(
    () => d.decode(u32(encode(8, 0)), spec),
    (e: unknown) => e instanceof DecodeError && /nonexistent/.test(e.message),
  );
});
