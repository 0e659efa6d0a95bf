import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { firstValueFrom, of } from 'rxjs';
import type { LabelSlot, MetricBatch, RawPoint } from '../../pipeline/data.ts';
import { KsymProcessor } from './processor.ts';
import { testHost } from '../../../test/helpers/host.ts';

test('ksym processor: an address unknown at first resolves after kallsyms is re-read (module loaded)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ksym-memo-'));
  try {
    const path = join(dir, 'kallsyms');
    writeFileSync(path, 'ffffffff81000000 T first_fn\n');
    const p = new KsymProcessor({ kallsyms_path: path, refresh_interval: 0 }, pino({ level: 'silent' }));
    await p.start(testHost());
    const bytes = (addr: bigint): Uint8Array => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(addr);
      return b;
    };
    const known: LabelSlot[] = [
      { name: 'fn', value: bytes(0xffffffff81000000n), pending: [{ name: 'ksym' }] },
    ];
    const later: LabelSlot[] = [
      { name: 'fn', value: bytes(0xffffffffc0001000n), pending: [{ name: 'ksym' }] },
    ];
    /** The processor's output: each point as `label values value`. */
    const scrape = async (points: RawPoint[]): Promise<string[]> => {
      const batch: MetricBatch = {
        source: 'ebpf/x',
        config: 'x',
        timeMs: 1,
        families: [{ name: 'f', help: 'h', kind: 'counter', startTimeMs: 0, points }],
      };
      const out = await firstValueFrom(of(batch).pipe(p.operator));
      return (out.families[0]?.points as RawPoint[]).map(
        (q) => `${q.labels.map((l) => String(l.value)).join(',')} ${q.value}`,
      );
    };
    const both = [
      { labels: known, value: 1 },
      { labels: later, value: 2 },
    ];
    assert.deepEqual(await scrape([{ labels: known, value: 1 }]), ['first_fn 1']);
    assert.deepEqual(await scrape([{ labels: known, value: 3 }]), ['first_fn 3']);
    // The second time from memory.
    assert.equal(p.memo.decoded, 1);
    assert.deepEqual(await scrape(both), ['first_fn 1', 'unknown_addr:0xffffffffc0001000 2']);
    writeFileSync(path, 'ffffffff81000000 T first_fn\nffffffffc0001000 t mod_fn\t[mod]\n');
    assert.deepEqual(await scrape(both), ['first_fn 1', 'mod_fn\t[mod] 2']);
    await p.shutdown();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
