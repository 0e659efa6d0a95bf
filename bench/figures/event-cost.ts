/**
 * Figure 3 of `npm run bench`: per-event kernel cost of shipped programs against a minimal
 * counting program on the same hook (bench/event-cost.ts).
 */
import { existsSync } from 'node:fs';
import { benchPath } from '../lib.ts';
import { fmt, type Report } from './report.ts';
import { nodeScript } from './tools.ts';

/**
 * Shipped programs for the per-event figure: the program, its trigger (bench/floor/trigger.c)
 * and iterations per run. Adding one is a line here (and, for a hook not yet in
 * bench/bpf/minimal.bpf.c, its counting program there). Programs not built are skipped
 * with a note.
 */
export const PROGRAMS: readonly { program: string; trigger: string; iterations: number }[] = [
  { program: 'timers', trigger: 'keepalive', iterations: 200_000 },
  { program: 'raw-tracepoints', trigger: 'keepalive', iterations: 200_000 },
  { program: 'uprobe', trigger: 'malloc', iterations: 200_000 },
];

export function eventCostFigure(report: Report): void {
  report.log('\n## 3. Per-event kernel cost vs a minimal counting program on the same hook\n');
  const rows: (string | number)[][] = [];
  const out: Record<string, unknown>[] = [];
  for (const p of PROGRAMS) {
    if (!existsSync(benchPath(`build/bpf/${p.program}.bpf.o`))) {
      report.note(`per-event: ${p.program} skipped (not built)`);
      rows.push([p.program, 'skipped: not built', '', '', '', '', '', '']);
      continue;
    }
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(
        nodeScript('event-cost.ts', [
          p.program,
          p.trigger,
          String(report.quick ? p.iterations / 4 : p.iterations),
          String(report.quick ? 3 : 9),
        ]),
      ) as Record<string, unknown>;
    } catch (err) {
      report.note(`per-event: ${p.program} failed: ${String(err).split('\n')[0]}`);
      rows.push([p.program, 'failed', '', '', '', '', '', '']);
      continue;
    }
    out.push(r);
    if (r['skipped']) {
      report.note(`per-event: ${p.program} skipped (${r['skipped'] as string})`);
      rows.push([p.program, `skipped: ${r['skipped'] as string}`, '', '', '', '', '', '']);
      continue;
    }
    // A negative or zero added time is noise larger than the effect: no ratio, target not met.
    const measurable = (r['programNsPerEvent'] as number) > 0 && (r['minimalNsPerEvent'] as number) > 0;
    const ratio = measurable ? (r['ratio'] as number) : NaN;
    if (!measurable)
      report.note(
        `per-event: ${p.program}: noise larger than the effect this run (rerun on a quiet machine)`,
      );
    const runRatio = (r['programRunNs'] as number) / (r['minimalRunNs'] as number);
    rows.push([
      p.program,
      `${String(r['hook'])}: ${(r['sections'] as string[]).join(', ')}`,
      p.trigger,
      r['eventsPerIteration'] as number,
      r['programNsPerEvent'] as number,
      r['minimalNsPerEvent'] as number,
      ratio,
      `${fmt(r['programRunNs'] as number)} / ${fmt(r['minimalRunNs'] as number)}`,
    ]);
    report.target(
      `per-event cost of ${p.program} ≤ 1.5× minimal program on ${String(r['hook'])}`,
      ratio,
      '≤ 1.5',
      ratio <= 1.5,
    );
    report.results[`eventCostRunRatio_${p.program}`] = runRatio;
  }
  report.table(
    [
      'program',
      'hook',
      'trigger',
      'events/iter',
      'added ns/event',
      'minimal ns/event',
      'ratio',
      'in-program ns (bpf_stats) prog / min',
    ],
    rows,
  );
  report.note(
    'per-event: added ns = paired (attached − nothing) trigger time per iteration ÷ events per iteration (every process’s events on the hook, from the minimal program’s count); in-program ns from BPF_ENABLE_STATS',
  );
  report.results['eventCost'] = out;
}
