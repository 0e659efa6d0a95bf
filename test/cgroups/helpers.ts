import { accessSync, constants, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Host } from '../../src/pipeline/component.ts';
import type { LabelSlot, MetricBatch } from '../../src/pipeline/data.ts';
import { SelfTelemetry } from '../../src/pipeline/telemetry.ts';

/** What the real-cgroup tests share. */
export const logger = pino({ level: 'silent' });

export const host = (): Host => ({
  logger,
  telemetry: new SelfTelemetry(),
  pull: async () => {},
  ready: () => true,
});

/** Why a test that creates cgroups under `mount` cannot run here, or false. */
export function skipReason(mount: string | undefined, what: string): string | false {
  if (process.getuid?.() !== 0) return 'needs root';
  if (mount === undefined) return `no ${what}`;
  try {
    accessSync(join(mount, 'cgroup.procs'), constants.W_OK);
  } catch {
    return `${mount} is not writable`;
  }
  return false;
}

export const ino = (p: string): bigint => statSync(p, { bigint: true }).ino;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** rmdir, retrying while an exited task is still leaving the cgroup (EBUSY). */
export async function rmdirRetry(dir: string, pauseMs = 20): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || i >= 100) throw err;
      await sleep(pauseMs);
    }
  }
}

/** A raw batch of one counter whose only label is a cgroup id still waiting for the `cgroup` decoder. */
export function batchOf(ids: readonly bigint[], name = 'cgroup_events_total'): MetricBatch {
  return {
    source: 'ebpf/test',
    config: 'test',
    timeMs: Date.now(),
    families: [
      {
        name,
        help: 'h',
        kind: 'counter',
        startTimeMs: 0,
        points: ids.map((id, i) => ({
          labels: [
            { name: 'cgroup', value: id.toString(), pending: [{ name: 'cgroup' }] } satisfies LabelSlot,
          ],
          value: i,
        })),
      },
    ],
  };
}

/** Remove `dir` and every cgroup below it (retrying while exited tasks leave). */
export async function removeTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) await removeTree(join(dir, e.name));
  await rmdirRetry(dir, 5);
}
