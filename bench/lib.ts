import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export function benchPath(rel: string): string {
  return join(root, rel);
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0
    ? NaN
    : s.length % 2
      ? (s[m] as number)
      : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * n kernel functions whose address and name are both unique in /proc/kallsyms (so n keys
 * give n series), in name order — the same choice as scrape_floor.c's `fill`.
 */
export function functionAddresses(n: number): bigint[] {
  const byAddr = new Map<bigint, number>();
  const byName = new Map<string, number>();
  const text: { addr: bigint; name: string }[] = [];
  for (const line of readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
    const [a, type, name] = line.split(' ');
    if (!a || !type || !name) continue;
    const addr = BigInt(`0x${a}`);
    byAddr.set(addr, (byAddr.get(addr) ?? 0) + 1);
    if ((type === 't' || type === 'T') && !name.includes('\t') && addr !== 0n) {
      byName.set(name, (byName.get(name) ?? 0) + 1);
      text.push({ addr, name });
    }
  }
  const picked = text
    .filter((s) => byAddr.get(s.addr) === 1 && byName.get(s.name) === 1)
    .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
    .slice(0, n)
    .map((s) => s.addr);
  if (picked.length < n)
    throw new Error(`only ${picked.length} kernel functions with a unique name and address`);
  return picked;
}
