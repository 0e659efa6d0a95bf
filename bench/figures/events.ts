/**
 * Figure 2 of `npm run bench`: events. The JS subscriber (bench/events.ts) against the C
 * consumer (build/bench/ring_consumer) on the same object, ring and perf buffers, as fast as the
 * generator goes and paced at 100k records/s.
 */
import { benchPath, median } from '../lib.ts';
import { fmt, type Report } from './report.ts';
import { nodeScript, tool } from './tools.ts';

interface EventRun {
  delivered: number;
  produced: number;
  drops: number;
  lost: number;
  genNs: number;
  cpuMs: number;
  /** Records and CPU past the first fifth of the run (JIT compilation, first page touches). */
  steadyRecords: number;
  steadyCpuMs: number;
}

export function eventsFigure(report: Report): void {
  report.log('\n## 2. Events (one 16-byte record per getppid of a generator; drained every 10 ms)\n');
  const rows: (string | number)[][] = [];
  const out: Record<string, unknown>[] = [];
  for (const mode of ['ring', 'perf'] as const) {
    const n = mode === 'ring' ? (report.quick ? 300_000 : 1_000_000) : report.quick ? 50_000 : 100_000;
    const runs: { js: EventRun; c: EventRun }[] = [];
    let skipped: string | undefined;
    for (let r = 0; r < (report.quick ? 1 : 3); r++) {
      let js: EventRun;
      try {
        js = JSON.parse(nodeScript('events.ts', [mode, String(n), '0'])) as EventRun;
      } catch (err) {
        skipped = String(err).split('\n')[0];
        break;
      }
      const c = JSON.parse(
        tool('ring_consumer', [
          benchPath('build/bench/events.bpf.o'),
          benchPath('build/bench/trigger'),
          mode,
          String(n),
          '0',
        ]),
      ) as EventRun;
      runs.push({ js, c });
    }
    if (skipped !== undefined || runs.length === 0) {
      report.note(`${mode} buffer: not measured (${skipped ?? 'no runs'})`);
      rows.push([mode, 'not measured', '', '', '', '', '', '']);
      continue;
    }
    const rate = (e: EventRun): number => e.delivered / (e.genNs / 1e9);
    const jsRate = median(runs.map((x) => rate(x.js)));
    const cRate = median(runs.map((x) => rate(x.c)));
    const jsDrops = Math.max(...runs.map((x) => x.js.drops + x.js.lost + (x.js.produced - x.js.delivered)));
    const cDrops = Math.max(...runs.map((x) => x.c.drops + x.c.lost + (x.c.produced - x.c.delivered)));
    const cpuPerM = median(runs.map((x) => (x.js.cpuMs / x.js.delivered) * 1e6));
    const cCpuPerM = median(runs.map((x) => (x.c.cpuMs / x.c.delivered) * 1e6));
    const steadyPerM = (e: EventRun): number =>
      e.steadyRecords > 0 ? (e.steadyCpuMs / e.steadyRecords) * 1e6 : NaN;
    const jsSteady = median(runs.map((x) => steadyPerM(x.js)));
    const cSteady = median(runs.map((x) => steadyPerM(x.c)));
    // 0 drops at 100k events/s: a paced run.
    const paced = JSON.parse(
      nodeScript('events.ts', [mode, String(mode === 'ring' ? 300_000 : 100_000), '100000']),
    ) as EventRun;
    const pacedDrops = paced.drops + paced.lost + (paced.produced - paced.delivered);
    const pacedRate = paced.delivered / (paced.genNs / 1e9);
    rows.push([
      mode,
      jsRate / 1000,
      cRate / 1000,
      jsRate / cRate,
      `${jsDrops} / ${cDrops}`,
      cpuPerM,
      cCpuPerM,
      `${fmt(jsSteady)} / ${fmt(cSteady)} (${fmt(jsSteady / cSteady)}×)`,
      `${pacedDrops} at ${fmt(pacedRate / 1000)}k/s`,
    ]);
    out.push({
      mode,
      records: n,
      jsPerSec: jsRate,
      cPerSec: cRate,
      ratio: jsRate / cRate,
      jsDrops,
      cDrops,
      jsCpuMsPerMillion: cpuPerM,
      cCpuMsPerMillion: cCpuPerM,
      jsSteadyCpuMsPerMillion: jsSteady,
      cSteadyCpuMsPerMillion: cSteady,
      paced: { ...paced, drops: pacedDrops, perSec: pacedRate },
    });
    if (mode === 'ring') {
      report.target(
        'ring buffer to JS ≥ 90% of the C consumer’s records/s',
        jsRate / cRate,
        '≥ 0.9',
        jsRate / cRate >= 0.9,
      );
      report.target(
        'ring buffer: JS CPU per million records ≤ 2× the C consumer’s',
        cpuPerM / cCpuPerM,
        '≤ 2',
        cpuPerM / cCpuPerM <= 2,
      );
      report.target(
        'ring buffer: 0 kernel drops at 100k events/s',
        pacedDrops,
        '= 0',
        pacedDrops === 0 && pacedRate >= 90_000,
      );
    }
  }
  report.table(
    [
      'buffer',
      'JS k rec/s',
      'C k rec/s',
      'JS / C',
      'drops JS / C',
      'JS CPU ms per M',
      'C CPU ms per M',
      'steady JS / C ms per M',
      'paced 100k/s: drops',
    ],
    rows,
  );
  report.note(
    'events: records/s are bounded by the generator (one getppid per record), so JS / C near 1 means the subscriber kept up',
  );
  report.note(
    'events: CPU per M is over the whole run (the target); "steady" counts CPU and records past the first fifth of the run for both consumers (JS: JIT compilation done)',
  );
  report.results['events'] = out;
}
