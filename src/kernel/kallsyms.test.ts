import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Kallsyms, sharedKallsyms, unknownAddr } from './kallsyms.ts';

const tempDirs: string[] = [];
after(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** A temporary folder, removed when the file's tests end. */
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kallsyms-'));
  tempDirs.push(d);
  return d;
}

/** Symbols of the live table whose address no other symbol shares, picked across the file. */
function uniqueLiveSymbols(count: number): { addr: bigint; name: string }[] {
  const lines = readFileSync('/proc/kallsyms', 'latin1').trimEnd().split('\n');
  const byAddr = new Map<string, string[]>();
  for (const line of lines) {
    const [addr, , ...rest] = line.split(' ');
    const list = byAddr.get(addr as string) ?? [];
    list.push(rest.join(' '));
    byAddr.set(addr as string, list);
  }
  const unique = [...byAddr.entries()].filter(([a, names]) => names.length === 1 && BigInt(`0x${a}`) !== 0n);
  const step = Math.max(1, Math.floor(unique.length / count));
  return unique
    .filter((_, i) => i % step === 0)
    .slice(0, count)
    .map(([a, names]) => ({ addr: BigInt(`0x${a}`), name: names[0] as string }));
}

test('live /proc/kallsyms: known symbols round-trip exactly', () => {
  const ksyms = new Kallsyms();
  assert.ok(ksyms.size > 1000, `only ${ksyms.size} symbols`);
  const picked = uniqueLiveSymbols(200);
  assert.ok(picked.length >= 100);
  for (const { addr, name } of picked) assert.equal(ksyms.exact(addr), name, `0x${addr.toString(16)}`);
  const start = ksyms.addressOf('start_kernel') ?? ksyms.addressOf('_stext');
  assert.ok(start !== undefined && start > 0n, 'start_kernel or _stext has an address');
});

test('an address inside a function is not an exact symbol; nearest finds its function', () => {
  const ksyms = new Kallsyms();
  const addr = ksyms.addressOf('schedule');
  assert.ok(addr);
  assert.equal(ksyms.exact(addr), 'schedule');
  assert.equal(ksyms.exact(addr + 1n), undefined);
  assert.equal(ksyms.nearest(addr + 1n), 'schedule');
});

test('unknown address renders as unknown_addr:0x… and a miss re-reads at most once per interval', () => {
  const dir = tempDir();
  const file = join(dir, 'kallsyms');
  writeFileSync(file, 'ffffffff81000000 T _text\nffffffff81000100 t alpha\n');
  let now = 0;
  const ksyms = new Kallsyms({ path: file, refreshIntervalMs: 1000, now: () => now });
  assert.equal(ksyms.exact(0xffffffff81000100n), 'alpha');
  // A module loads: its symbol appears in the file.
  writeFileSync(file, 'ffffffff81000000 T _text\nffffffff81000100 t alpha\nffffffffc0001000 t beta\t[mod]\n');
  assert.equal(ksyms.exact(0xffffffffc0001000n), undefined, 'within the interval: no re-read');
  assert.equal(ksyms.refreshes, 0);
  now = 5000;
  assert.equal(ksyms.exact(0xffffffffc0001000n), 'beta\t[mod]');
  assert.equal(ksyms.refreshes, 1);
  // Go's %x: no padding (ebpf_exporter decoder/ksym.go).
  assert.equal(unknownAddr(0xdeadn), 'unknown_addr:0xdead');
  assert.equal(unknownAddr(0xabcdefn), 'unknown_addr:0xabcdef');
  assert.equal(unknownAddr(0n), 'unknown_addr:0x0');
  assert.equal(unknownAddr(0xffffffffc0001000n), 'unknown_addr:0xffffffffc0001000');
});

test('a table of zero addresses (no privilege) is a clear error', () => {
  const dir = tempDir();
  const file = join(dir, 'kallsyms');
  writeFileSync(file, '0000000000000000 T _text\n0000000000000000 t alpha\n');
  assert.throws(() => new Kallsyms({ path: file }), { code: 'ERR_KSYM_HIDDEN', message: /CAP_SYSLOG/ });
});

test('one shared table per path: the ksym processor, kstack and kaddrs read kallsyms once', () => {
  const a = sharedKallsyms();
  assert.equal(sharedKallsyms(), a);
  assert.equal(sharedKallsyms({ path: '/proc/kallsyms', refreshIntervalMs: 1 }), a);
});

/**
 * One snapshot of the live table: BPF programs loaded or freed by other processes
 * add and remove bpf_prog_* symbols between two reads of /proc/kallsyms.
 */
function liveSnapshot(): string {
  const path = join(tempDir(), 'kallsyms');
  writeFileSync(path, readFileSync('/proc/kallsyms'));
  return path;
}

test('every live symbol with an address of its own resolves exactly; shared addresses give the first in file order', () => {
  const snapshot = liveSnapshot();
  const lines = readFileSync(snapshot, 'latin1').trimEnd().split('\n');
  const first = new Map<bigint, string>();
  for (const line of lines) {
    const sp = line.indexOf(' ');
    const addr = BigInt(`0x${line.slice(0, sp)}`);
    if (!first.has(addr)) first.set(addr, line.slice(sp + 3));
  }
  const ksyms = new Kallsyms({ path: snapshot });
  assert.equal(ksyms.size, lines.length);
  let checked = 0;
  for (const [addr, name] of first) {
    if (addr === 0n) continue;
    assert.equal(ksyms.exact(addr), name, `0x${addr.toString(16)}`);
    checked++;
  }
  assert.ok(checked > 1000);
});

test('an unsorted file: sorted by address, equal addresses in file order, names with tabs and latin1 kept', () => {
  const dir = tempDir();
  const file = join(dir, 'kallsyms');
  writeFileSync(
    file,
    Buffer.from(
      [
        'ffffffffc0001000 t beta\t[mod]',
        'ffffffff81000100 t alpha',
        'ffffffff81000000 T _text',
        'ffffffff81000100 t alpha_alias',
        '00000000ffffffff t low_\xe9', // a 32-bit boundary and a latin1 byte
        'ffffffff81000200 t gamma',
        'not a line',
        '',
      ].join('\n'),
      'latin1',
    ),
  );
  const k = new Kallsyms({ path: file });
  assert.equal(k.size, 6);
  assert.equal(k.exact(0xffffffff81000100n), 'alpha');
  assert.equal(k.exact(0xffffffffc0001000n), 'beta\t[mod]');
  assert.equal(k.exact(0xffffffffn), 'low_\xe9');
  assert.equal(k.exact(0x1ffffffffn), undefined);
  assert.equal(k.nearest(0xffffffff81000150n), 'alpha');
  assert.equal(k.nearest(0xffffffff81000200n), 'gamma');
  assert.equal(k.nearest(0xffffffffffffffffn), 'beta\t[mod]');
  assert.equal(k.nearest(0xfffffffen), undefined, 'below the first symbol');
  assert.equal(k.nearest(-1n), undefined);
  assert.equal(k.exact(1n << 64n), undefined);
  assert.equal(k.addressOf('low_\xe9'), 0xffffffffn, 'the first name in the buffer');
  assert.equal(k.addressOf('alpha'), 0xffffffff81000100n);
  assert.equal(k.addressOf('alpha_alias'), 0xffffffff81000100n);
  assert.equal(k.addressOf('gamma'), 0xffffffff81000200n, 'the last name');
  assert.equal(k.addressOf('beta\t[mod]'), 0xffffffffc0001000n);
  assert.equal(k.addressOf('beta'), undefined, 'a prefix is not a name');
  assert.equal(k.addressOf('lpha'), undefined, 'a suffix is not a name');
  assert.equal(k.addressOf(''), undefined);
});

test('compact: the live table keeps under 12 MB (a string per symbol took ~45 MB)', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const used = (): number => {
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  // Heap deltas are noisy (lazy V8 internals, other allocations): the least of three tables.
  const snapshot = liveSnapshot();
  const tables: Kallsyms[] = [];
  let mb = Infinity;
  for (let i = 0; i < 3; i++) {
    const before = used();
    tables.push(new Kallsyms({ path: snapshot }));
    mb = Math.min(mb, (used() - before) / 2 ** 20);
  }
  assert.ok((tables[0]?.size ?? 0) > 1000);
  assert.ok(mb < 12, `${mb.toFixed(1)} MB retained for ${tables[0]?.size} symbols`);
});
