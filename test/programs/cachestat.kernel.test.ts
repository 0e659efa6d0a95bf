/**
 * bpf/cachestat: page cache operations. A 16 MiB file on the root filesystem
 * (ext4, a real disk; tmpfs pages never leave or enter the cache this way) is
 * written and fsynced, dropped from the cache with posix_fadvise(DONTNEED),
 * and read back, each phase by its own python child, with a read through the
 * real ebpf receiver after each phase. The counters are system-wide, so other
 * activity can only add: every assertion is a lower bound from the file's size.
 *
 * On this kernel (no fentry, no kprobes) the tp_btf set is chosen and exports
 * page_cache_pages_total{op} (pages, from tracepoints); on kernels with fentry
 * or kprobes, page_cache_ops_total{op} (calls, ebpf_exporter's metric).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { assemble } from '../../src/pipeline/assemble.ts';
import type { MetricBatch, ScalarPoint } from '../../src/pipeline/data.ts';
import { configSchema } from '../../src/receivers/ebpf/config.ts';
import { ebpfReceiverFactory } from '../../src/receivers/ebpf/factory.ts';
import type { EbpfReceiver } from '../../src/receivers/ebpf/receiver.ts';
import { repoRoot } from '../helpers/agent.ts';
import { expectedHook } from '../helpers/kernel-features.ts';
import { testHost } from '../helpers/host.ts';

const logger = pino({ level: 'silent' });
const host = testHost();
const PYTHON = '/usr/bin/python3.11';
const FILE_MIB = 16;
const PAGES = (FILE_MIB * 1024 * 1024) / 4096;
/** The largest folio a file can be cached in (PMD size): the fewest events the file's pages can make. */
const FOLIOS_AT_LEAST = PAGES / 512;
const PREFERENCE = ['fentry', 'kprobe', 'tp_btf'] as const;

const PHASES = {
  write: `import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
for _ in range(${FILE_MIB}):
    os.write(fd, b"c" * (1 << 20))
os.fsync(fd)
os.close(fd)
`,
  drop: `import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)
`,
  read: `import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
while os.read(fd, 1 << 20):
    pass
os.close(fd)
`,
};

for (const forced of [undefined, 'kprobe'] as const) {
  const name = forced ? `forcing ${forced}` : 'the preferred hook';
  test(`cachestat via ${name}: writing, dropping and reading a ${FILE_MIB} MiB file`, async (t) => {
    const file = join('/var/tmp', `ebpf-collector-cachestat-${process.pid}.dat`);
    const receiver = (await ebpfReceiverFactory.create(
      { id: 'ebpf/cachestat', logger, configDir: repoRoot },
      configSchema.parse({
        program: 'cachestat',
        poll_interval: '1h',
        ...(forced ? { hooks: [forced] } : {}),
      }),
    )) as EbpfReceiver;
    let last: MetricBatch | undefined;
    const sub = receiver.output$.subscribe((b) => (last = b));
    const read = async (): Promise<Map<string, number>> => {
      await receiver.collectNow();
      const families = assemble(last?.families ?? []);
      const out = new Map<string, number>();
      for (const f of families) {
        for (const p of f.points as ScalarPoint[]) out.set(`${f.name}/${p.labels['op'] as string}`, p.value);
      }
      return out;
    };
    const phase = async (which: keyof typeof PHASES): Promise<Map<string, number>> => {
      const before = await read();
      execFileSync(PYTHON, ['-c', PHASES[which], file], { stdio: 'ignore' });
      const after = await read();
      return new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]));
    };
    try {
      await receiver.start(host);
      // `hooks:` reorders the preference; the sets it leaves out come after it.
      const order: readonly string[] = forced
        ? [forced, ...PREFERENCE.filter((h) => h !== forced).sort()]
        : PREFERENCE;
      const hook = expectedHook(order);
      assert.equal(receiver.hook, hook);
      // Every set preferred to the chosen one was tried and reported with its reason.
      const failed = receiver.attempts.filter((a) => !a.ok);
      assert.deepEqual(
        failed.map((a) => a.hook),
        order.slice(0, order.indexOf(hook)),
      );
      for (const a of failed) {
        t.diagnostic(`${a.hook} refused: ${a.reason}`);
        assert.match(
          a.reason ?? '',
          /\bE[A-Z]+ \(|\[ERR_[A-Z_]+\]/,
          `${a.hook}: the reason names the errno or code`,
        );
      }
      const write = await phase('write');
      const drop = await phase('drop');
      const readBack = await phase('read');
      const seen = JSON.stringify({ write: [...write], drop: [...drop], read: [...readBack] });
      t.diagnostic(`${hook}: ${seen}`);
      const at = (m: Map<string, number>, key: string): number => m.get(key) ?? 0;
      if (hook === 'tp_btf') {
        const pages = (op: string): string => `page_cache_pages_total/${op}`;
        assert.ok(at(write, pages('added')) >= PAGES, `write adds the file's pages: ${seen}`);
        assert.ok(at(write, pages('dirtied')) >= PAGES, `write dirties the file's pages: ${seen}`);
        assert.ok(at(write, pages('buffer_dirtied')) >= PAGES, `one buffer head per 4 KiB block: ${seen}`);
        assert.ok(at(drop, pages('removed')) >= PAGES, `DONTNEED removes the file's pages: ${seen}`);
        assert.ok(at(readBack, pages('added')) >= PAGES, `the cold read adds them again: ${seen}`);
        assert.ok(
          ![...write.keys()].some((k) => k.startsWith('page_cache_ops_total/')),
          'ops metric not exported',
        );
      } else {
        const ops = (op: string): string => `page_cache_ops_total/${op}`;
        // Calls: one per folio, and a folio holds at most 512 pages.
        assert.ok(at(write, ops('page_add_lru')) >= FOLIOS_AT_LEAST, `write adds folios: ${seen}`);
        assert.ok(at(write, ops('page_mark_dirties')) >= FOLIOS_AT_LEAST, `write dirties folios: ${seen}`);
        assert.ok(at(readBack, ops('page_add_lru')) >= FOLIOS_AT_LEAST, `the cold read adds folios: ${seen}`);
        assert.ok(at(readBack, ops('cache_access')) >= 1, `the read accesses the cache: ${seen}`);
        assert.ok(
          ![...write.keys()].some((k) => k.startsWith('page_cache_pages_total/')),
          'pages metric not exported',
        );
      }
      for (const m of [write, drop, readBack]) {
        assert.ok(
          [...m.values()].every((d) => d >= 0),
          `a counter went backwards: ${seen}`,
        );
      }
    } finally {
      sub.unsubscribe();
      await receiver.shutdown();
      rmSync(file, { force: true });
    }
  });
}
