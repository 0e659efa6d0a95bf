/**
 * Cgroup churn through the real agent (bin/ebpf-collector.js): the shipped `uprobe` program
 * (libc malloc by cgroup id) with the `cgroup` processor and the Prometheus exporter, while
 * AGENT_CHURN_TOTAL (2,000) cgroups are made one after another, each running one short process
 * that allocates (`ls`), and removed — each lives milliseconds, far less than a rescan, so the
 * agent's cgroup table knows some only as removed and most never. Scraped every second:
 *
 * - the cgroups the table never knew (`unknown_cgroup_id:<id>` series) leave the map and the
 *   exposition after `poll_interval`, well inside the grace;
 * - after `removed_cgroup_grace` (shortened to GRACE_S here; the `cgroup` processor keeps their
 *   paths longer, 5m) the known ones go too: map entries
 *   and series are back near their base, every removal counted in
 *   `map_cgroup_keys_removed_total`, no update failed, and the agent's RSS is printed.
 *
 * Needs root, a writable cgroup2 mount and build/bpf. Every cgroup made here is removed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findCgroup2Mount } from '../../src/kernel/cgroup-table.ts';
import { httpGet, samples, startAgent } from '../helpers/agent.ts';
import { procSample } from '../reliability/proc-stats.ts';
import { removeTree, skipReason, sleep } from './helpers.ts';

const mount = findCgroup2Mount();
const skip = skipReason(mount, 'cgroup2 mount');
const TOTAL = Number(process.env['AGENT_CHURN_TOTAL'] ?? 2_000);
const POLL_S = 5;
const GRACE_S = 20;

/** Makes $2 cgroups under $1, one after another: `ls` runs in each, then it is removed; prints the ids. */
const DRIVER = String.raw`
root=$1; n=$2; i=0; ids=""
while [ $i -lt $n ]; do
  d=$root/c$i
  mkdir $d
  ids="$ids $(stat -c %i $d)"
  sh -c 'echo $$ > '$d'/cgroup.procs && exec ls / > /dev/null'
  t=0; until rmdir $d 2>/dev/null; do t=$((t+1)); [ $t -gt 500 ] && exit 1; sleep 0.01; done
  i=$((i+1))
done
echo $ids`;

const config = `
receivers:
  ebpf/uprobe:
    program: uprobe
    poll_interval: ${POLL_S}s
    removed_cgroup_grace: ${GRACE_S}s
processors:
  cgroup: {}
exporters:
  prometheus:
    endpoint: \${env:EBPF_COLLECTOR_LISTEN}
service:
  pipelines:
    metrics:
      receivers: [ebpf/uprobe]
      processors: [cgroup]
      exporters: [prometheus]
`;

/** A scrape (httpGet: on a connection of its own, as a kept-alive one may be closed by the server meanwhile). */
const scrape = async (port: number): Promise<string> => (await httpGet(port, '/metrics')).body;

interface Look {
  readonly series: number;
  /** The `cgroup` label of every series. */
  readonly cgroups: readonly string[];
  /** Our cgroups' series: decoded to a path under our root, and `unknown_cgroup_id:<one of ours>`. */
  readonly ours: number;
  readonly oursUnknown: number;
  readonly entries: number;
  readonly removed: number;
  readonly failures: number;
}

function look(text: string, root: string, ids: ReadonlySet<string>): Look {
  const calls = samples(text, 'ebpf_exporter_libc_malloc_calls_total');
  const self = (name: string) =>
    samples(text, name).find((s) => s.labels['map'] === 'libc_malloc_calls_total')?.value ?? NaN;
  let ours = 0;
  let oursUnknown = 0;
  for (const s of calls) {
    const cgroup = s.labels['cgroup'] ?? '';
    const m = /^unknown_cgroup_id:(\d+)$/.exec(cgroup);
    if (m && ids.has(m[1] as string)) oursUnknown++;
    else if (cgroup.startsWith(`${root}/`)) ours++;
  }
  return {
    series: calls.length,
    cgroups: calls.map((s) => s.labels['cgroup'] ?? ''),
    ours: ours + oursUnknown,
    oursUnknown,
    entries: self('ebpf_collector_map_entries'),
    removed: self('ebpf_collector_map_cgroup_keys_removed_total'),
    failures: self('ebpf_collector_map_update_failures_total'),
  };
}

test(
  `the agent through ${TOTAL} short-lived cgroups: their keys and series go, map and series back near base`,
  { skip, timeout: 900_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'churn-agent-'));
    const file = join(dir, 'uprobe.yaml');
    writeFileSync(file, config);
    const root = join(mount as string, `ebpf-collector-agentchurn-${process.pid}`);
    mkdirSync(root);
    const agent = await startAgent([file], {}, 60_000);
    const pid = agent.child.pid as number;
    try {
      const base = look(await scrape(agent.port), root, new Set());
      const rssBase = procSample(pid, 0).rssMiB;
      const started = Date.now();
      // Scrape every second while the driver runs, as Prometheus would (each scrape reads the map).
      let driving = true;
      let most = base;
      /** Every cgroup label seen while churning: ours (a path under root or one of our ids) or others'. */
      const seen = new Set<string>();
      const scraping = (async () => {
        while (driving) {
          const l = look(await scrape(agent.port), root, new Set());
          if (l.entries > most.entries) most = l;
          for (const c of l.cgroups) seen.add(c);
          await sleep(1_000);
        }
      })();
      const run = promisify(execFile)('/bin/sh', ['-c', DRIVER, 'driver', root, String(TOTAL)], {
        maxBuffer: 1 << 20,
      });
      const { stdout } = await run.finally(() => (driving = false));
      await scraping;
      const ids = new Set(stdout.trim().split(/\s+/));
      const churnMs = Date.now() - started;
      assert.equal(ids.size, TOTAL, 'one id per cgroup');
      const baseCgroups = new Set(base.cgroups);
      const isOurs = (c: string): boolean =>
        c.startsWith(`${root}/`) || ids.has(/^unknown_cgroup_id:(\d+)$/.exec(c)?.[1] ?? '');
      const oursSeen = [...seen].filter(isOurs).length;
      /** Cgroups of other workloads on this machine that came meanwhile (a shared machine's tests). */
      const others = (l: Look): number => l.cgroups.filter((c) => !isOurs(c) && !baseCgroups.has(c)).length;
      const othersSeen = [...seen].filter((c) => !isOurs(c) && !baseCgroups.has(c)).length;

      // Within poll_interval (plus a read, a walk and a scrape): no never-known cgroup is left.
      const afterChurn = Date.now();
      let now = look(await scrape(agent.port), root, ids);
      const atChurnEnd = now;
      while (now.oursUnknown > 0) {
        assert.ok(
          Date.now() - afterChurn < (POLL_S + 30) * 1_000,
          `${now.oursUnknown} never-known cgroups still exported`,
        );
        await sleep(1_000);
        now = look(await scrape(agent.port), root, ids);
      }
      const unknownGoneMs = Date.now() - afterChurn;
      const knownLeft = now.ours;
      // After the grace: every key of ours is gone.
      while (now.ours > 0) {
        assert.ok(
          Date.now() - afterChurn < (GRACE_S + 60) * 1_000,
          `${now.ours} removed cgroups still exported`,
        );
        await sleep(1_000);
        now = look(await scrape(agent.port), root, ids);
      }
      const allGoneMs = Date.now() - afterChurn;
      const rss = procSample(pid, 0).rssMiB;
      t.diagnostic(
        `${TOTAL} cgroups in ${churnMs} ms (${oursSeen} of them seen in scrapes while churning; ${othersSeen} other ` +
          `workloads' cgroups meanwhile); map entries ${base.entries} at base, at most ${most.entries} while ` +
          `churning, ${atChurnEnd.entries} at its end (${atChurnEnd.oursUnknown} of ours never known), ` +
          `${now.entries} at the end (${others(now)} others')`,
      );
      t.diagnostic(
        `never-known cgroups gone ${unknownGoneMs} ms after the churn (poll_interval ${POLL_S} s), the ` +
          `${knownLeft} known then gone after ${allGoneMs} ms (grace ${GRACE_S} s); series ${base.series} → ` +
          `${now.series}; keys removed ${now.removed}, update failures ${now.failures}; RSS ${rssBase.toFixed(1)} → ${rss.toFixed(1)} MiB`,
      );
      // Every key of ours is gone (the loops above); each removal was counted.
      assert.ok(oursSeen > 0, 'our cgroups were counted');
      assert.ok(now.removed - base.removed >= oursSeen, `removals counted: ${now.removed - base.removed}`);
      // The map and the exposition are back at their base, but for other workloads' cgroups that
      // came meanwhile (other tests on a shared machine), which may also have filled the map.
      const foreign = others(now);
      assert.ok(now.entries - foreign <= base.entries + 5, `map entries ${base.entries} → ${now.entries}`);
      assert.ok(now.series - foreign <= base.series + 5, `series ${base.series} → ${now.series}`);
      if (othersSeen === 0 && foreign === 0) assert.equal(now.failures, 0, 'no map update failed');
    } finally {
      await agent.stop();
      await removeTree(root);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
