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

/** The live table read plainly: [address, name] in address order, equal addresses in file order. */
function referenceTable(path: string): [bigint, string][] {
  const rows = readFileSync(path, 'latin1')
    .trimEnd()
    .split('\n')
    .map((line, i): [bigint, string, number] => {
      const sp = line.indexOf(' ');
      return [BigInt(`0x${line.slice(0, sp)}`), line.slice(sp + 3), i];
    });
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[2] - b[2]));
  return rows.map(([a, n]): [bigint, string] => [a, n]);
}

test('__pfx_ symbols folded into their functions: the live table answers every lookup as the plain one', () => {
  const snapshot = liveSnapshot();
  const ref = referenceTable(snapshot);
  const k = new Kallsyms({ path: snapshot });
  assert.equal(k.size, ref.length, 'size counts folded symbols');
  const firstAt = new Map<bigint, string>();
  const firstNamed = new Map<string, bigint>();
  for (const [a, n] of ref) {
    if (!firstAt.has(a)) firstAt.set(a, n);
    if (!firstNamed.has(n)) firstNamed.set(n, a);
  }
  // nearest(x) of the plain table: the first symbol at the greatest address <= x.
  const addrs = [...firstAt.keys()];
  let pfx = 0;
  for (let i = 0; i < addrs.length; i++) {
    const a = addrs[i] as bigint;
    if (a === 0n) continue;
    const name = firstAt.get(a) as string;
    assert.equal(k.exact(a), name, `exact 0x${a.toString(16)}`);
    assert.equal(k.nearest(a), name, `nearest 0x${a.toString(16)}`);
    const next = addrs[i + 1];
    if (next !== undefined && next - a > 1n) {
      assert.equal(k.exact(a + 1n), undefined, `exact 0x${(a + 1n).toString(16)}`);
      assert.equal(k.nearest(next - 1n), name, `nearest 0x${(next - 1n).toString(16)}`);
    }
    if (name.startsWith('__pfx_')) {
      pfx++;
      if (pfx % 97 === 0) assert.equal(k.addressOf(name), firstNamed.get(name), name);
    }
  }
  assert.equal(k.addressOf('__pfx_'), undefined);
  if (pfx > 1000) {
    // A kernel with function padding: half the symbols are __pfx_, kept as bits.
    const plain = ref.reduce((s, [, n]) => s + n.length + 1 + 12, 0);
    assert.ok(k.bytes < plain * 0.6, `${k.bytes} bytes kept for ${plain} plain`);
  }
});

test('__pfx_ folding: only a prefix directly below its function at the one distance, alone at its address', () => {
  const file = join(tempDir(), 'kallsyms');
  const lines = [
    'ffffffff81000000 T _text',
    'ffffffff81000010 t __pfx_alpha', // folded: alpha 16 bytes above
    'ffffffff81000020 t alpha',
    'ffffffff81000030 t __pfx_beta', // not folded: another distance
    'ffffffff81000050 t beta',
    'ffffffff81000060 t __pfx_gamma', // not folded: shares its address
    'ffffffff81000060 t other',
    'ffffffff81000070 t gamma',
    'ffffffff81000080 t __pfx_delta', // not folded: delta does not follow directly
    'ffffffff81000088 t between',
    'ffffffff81000090 t delta',
    'ffffffff810000a0 t __pfx_', // a bare prefix is a name
    'ffffffff810000b0 t __pfx_eps', // folded
    'ffffffff810000c0 t eps',
    'ffffffff810000c0 t eps_alias',
    'ffffffffc0001000 t __pfx_mod_fn\t[mod]', // folded, module names included
    'ffffffffc0001010 t mod_fn\t[mod]',
    'ffffffffc0002000 t __pfx_alpha', // a second __pfx_alpha: folded
    'ffffffffc0002010 t alpha',
  ];
  writeFileSync(file, lines.join('\n') + '\n');
  const k = new Kallsyms({ path: file });
  assert.equal(k.size, lines.length);
  for (const line of lines) {
    const addr = BigInt(`0x${line.slice(0, 16)}`);
    const name = line.slice(19);
    if (name === 'other' || name === 'eps_alias') continue; // a shared address answers the first
    assert.equal(k.exact(addr), name, line);
  }
  assert.equal(k.exact(0xffffffff81000011n), undefined);
  assert.equal(k.nearest(0xffffffff81000011n), '__pfx_alpha');
  assert.equal(k.nearest(0xffffffff8100001fn), '__pfx_alpha');
  assert.equal(k.nearest(0xffffffff81000020n), 'alpha');
  assert.equal(k.nearest(0xffffffff8100000fn), '_text');
  assert.equal(k.nearest(0xffffffff810000bcn), '__pfx_eps');
  assert.equal(k.nearest(0xffffffffc0001008n), '__pfx_mod_fn\t[mod]');
  assert.equal(k.exact(0xffffffffc0001000n), '__pfx_mod_fn\t[mod]');
  assert.equal(k.exact(0xffffffffc0000ff0n), undefined);
  assert.equal(k.addressOf('__pfx_alpha'), 0xffffffff81000010n, 'the first in address order');
  assert.equal(k.addressOf('alpha'), 0xffffffff81000020n);
  assert.equal(k.addressOf('__pfx_beta'), 0xffffffff81000030n);
  assert.equal(k.addressOf('__pfx_gamma'), 0xffffffff81000060n);
  assert.equal(k.addressOf('__pfx_delta'), 0xffffffff81000080n);
  assert.equal(k.addressOf('__pfx_'), 0xffffffff810000a0n);
  assert.equal(k.addressOf('__pfx_eps'), 0xffffffff810000b0n);
  assert.equal(k.addressOf('__pfx_mod_fn\t[mod]'), 0xffffffffc0001000n);
  assert.equal(k.addressOf('__pfx_nothing'), undefined);
  assert.equal(k.addressOf('__pfx_between'), undefined, 'a function without a prefix');
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
