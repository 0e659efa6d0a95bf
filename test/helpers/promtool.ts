import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PROMTOOL = '/usr/bin/promtool';

/**
 * promtool's one lint finding we keep on purpose: ebpf_exporter names its program run time
 * `ebpf_exporter_ebpf_program_run_time_seconds`, a counter without `_total`, and so do we
 * (self-names.ts). It is written only while kernel.bpf_stats_enabled=1 — which a test running
 * at the same time on this machine may have switched on.
 */
const KEPT_FOR_EBPF_EXPORTER =
  'ebpf_exporter_ebpf_program_run_time_seconds counter metrics should have "_total" suffix';

/**
 * `promtool check metrics` accepts the text: exit 0, or only the lint finding above (exit 3,
 * lint problems; a parse error is exit 1). Without promtool: a failure under CI, else nothing.
 */
export function assertPromtoolAccepts(text: string): void {
  if (!existsSync(PROMTOOL)) {
    if (process.env['CI'])
      assert.fail('promtool is missing: scripts/setup.sh --test installs Debian prometheus');
    return;
  }
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.status === 0) return;
  const findings = `${r.stdout}${r.stderr}`
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && l !== KEPT_FOR_EBPF_EXPORTER);
  assert.ok(
    r.status === 3 && findings.length === 0,
    `promtool check metrics (exit ${String(r.status)}):\n${r.stdout}${r.stderr}\n${text}`,
  );
}
