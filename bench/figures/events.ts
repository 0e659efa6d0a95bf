/**
 * Figure 2 of `npm run bench`: events. The JS subscriber (bench/events.ts) against the C
 * consumer (build/bench/ring_consumer) on the same object, ring and perf buffers, as fast as the
 * generator goes and paced at 100k records/s. Both read each record the same way (its length
 * and its pid), both drain on the same interval, and CPU is compared in the steady state of each:
 * what a long-running consumer pays per record. What each pays once (the JS side's JIT
 * compilation above all) is printed beside it in ms, and the whole-run figure too.
 */
import { benchPath, median } from '../lib.ts';
import { fmt, type Report } from './report.ts';
import { nodeScript, tool } from './tools.ts';

interface EventRun {
  delivered: number;
  pidOk: boolean;
  produced: number;
  drops: number;
  lost: number;
  genNs: number;
  cpuMs: number;
  /** Records and CPU past the first fifth of the run (JIT compilation, first page touches). */
  steadyRecords: number;
  steadyCpuMs: number;
}

/** The receiver's default `drain_interval` (src/receivers/ebpf/config.ts). */
const RECEIVER_DRAIN_MS = 50;

interface Case {
  mode: 'ring' | 'perf';
  drainMs: number;
  records: number;
}

const perM = (ms: number, records: number): number => (records > 0 ? (ms / records) * 1e6 : NaN);
const steadyPerM = (e: EventRun): number => perM(e.steadyCpuMs, e.steadyRecords);
/** CPU above what the run's records cost at the steady rate: paid once (JIT, first touches). */
const oneTimeMs = (e: EventRun): number => e.cpuMs - (steadyPerM(e) * e.delivered) / 1e6;
/**
 * Records the consumer never got: the program counts every record it tries to write
 * (`produced`), so reserve/output failures (`drops`) and perf lost samples are already among
 * them; adding those counts as well counted each lost record twice or three times.
 */
const dropsOf = (e: EventRun): number => e.produced - e.delivered;

export function eventsFigure(report: Report): void {
  report.log('\n## 2. Events (one 16-byte record per getppid of a generator)\n');
  const rows: (string | number)[][] = [];
  const out: Record<string, unknown>[] = [];
  const ringRecords = report.quick ? 300_000 : 3_000_000;
  const cases: Case[] = [
    { mode: 'ring', drainMs: 10, records: ringRecords },
    { mode: 'ring', drainMs: RECEIVER_DRAIN_MS, records: ringRecords },
    { mode: 'perf', drainMs: 10, records: report.quick ? 50_000 : 100_000 },
  ];
  for (const { mode, drainMs, records } of cases) {
    const runs: { js: EventRun; c: EventRun }[] = [];
    let skipped: string | undefined;
    for (let r = 0; r < (report.quick ? 1 : 3); r++) {
      let js: EventRun;
      try {
        js = JSON.parse(nodeScript('events.ts', [mode, String(records), '0', String(drainMs)])) as EventRun;
      } catch (err) {
        skipped = String(err).split('\n')[0];
        break;
      }
      const c = JSON.parse(
        tool('ring_consumer', [
          benchPath('build/bench/events.bpf.o'),
          benchPath('build/bench/trigger'),
          mode,
          String(records),
          '0',
          String(drainMs),
        ]),
      ) as EventRun;
      if (!js.pidOk || !c.pidOk) throw new Error(`${mode}: a record's pid was not the generator's`);
      runs.push({ js, c });
    }
    const label = `${mode}, ${drainMs} ms`;
    if (skipped !== undefined || runs.length === 0) {
      report.note(`${label}: not measured (${skipped ?? 'no runs'})`);
      rows.push([label, 'not measured', '', '', '', '', '', '', '']);
      continue;
    }
    const rate = (e: EventRun): number => e.delivered / (e.genNs / 1e9);
    const jsRate = median(runs.map((x) => rate(x.js)));
    const cRate = median(runs.map((x) => rate(x.c)));
    const jsDrops = Math.max(...runs.map((x) => dropsOf(x.js)));
    const cDrops = Math.max(...runs.map((x) => dropsOf(x.c)));
    const jsSteady = median(runs.map((x) => steadyPerM(x.js)));
    const cSteady = median(runs.map((x) => steadyPerM(x.c)));
    const jsWhole = median(runs.map((x) => perM(x.js.cpuMs, x.js.delivered)));
    const cWhole = median(runs.map((x) => perM(x.c.cpuMs, x.c.delivered)));
    const jsOnce = median(runs.map((x) => oneTimeMs(x.js)));
    const cOnce = median(runs.map((x) => oneTimeMs(x.c)));
    rows.push([
      label,
      jsRate / 1000,
      jsRate / cRate,
      `${jsDrops} / ${cDrops}`,
      `${fmt(jsSteady)} / ${fmt(cSteady)}`,
      jsSteady / cSteady,
      `${fmt(jsOnce, 1)} / ${fmt(cOnce, 1)}`,
      `${fmt(jsWhole)} / ${fmt(cWhole)} (${fmt(jsWhole / cWhole)}×)`,
    ]);
    out.push({
      mode,
      drainMs,
      records,
      jsPerSec: jsRate,
      cPerSec: cRate,
      ratio: jsRate / cRate,
      jsDrops,
      cDrops,
      jsSteadyCpuMsPerMillion: jsSteady,
      cSteadyCpuMsPerMillion: cSteady,
      jsOneTimeCpuMs: jsOnce,
      cOneTimeCpuMs: cOnce,
      jsCpuMsPerMillion: jsWhole,
      cCpuMsPerMillion: cWhole,
      runs,
    });
    if (mode === 'ring' && drainMs === 10) {
      report.target(
        'ring buffer to JS ≥ 90% of the C consumer’s records/s',
        jsRate / cRate,
        '≥ 0.9',
        jsRate / cRate >= 0.9,
      );
      report.target(
        'ring buffer: JS CPU per million records ≤ 2× the C consumer’s (steady, 10 ms drains)',
        jsSteady / cSteady,
        '≤ 2',
        jsSteady / cSteady <= 2,
      );
    }
  }
  report.table(
    [
      'buffer, drain',
      'JS k rec/s',
      'JS / C rec/s',
      'drops JS / C',
      'steady CPU ms per M JS / C',
      'steady JS / C',
      'once ms JS / C',
      'whole run ms per M JS / C',
    ],
    rows,
  );
  // 0 drops at 100k events/s: paced runs of the JS subscriber at the receiver's drain interval.
  const paced: (string | number)[][] = [];
  for (const mode of ['ring', 'perf'] as const) {
    const n = mode === 'ring' ? 300_000 : 100_000;
    const p = JSON.parse(
      nodeScript('events.ts', [mode, String(n), '100000', String(RECEIVER_DRAIN_MS)]),
    ) as EventRun;
    const drops = dropsOf(p);
    const perSec = p.delivered / (p.genNs / 1e9);
    paced.push([mode, n, perSec / 1000, drops, perM(p.cpuMs, p.delivered)]);
    out.push({ mode, paced: { ...p, drops, perSec, drainMs: RECEIVER_DRAIN_MS } });
    if (mode === 'ring')
      report.target(
        'ring buffer: 0 kernel drops at 100k events/s',
        drops,
        '= 0',
        drops === 0 && perSec >= 90_000,
      );
  }
  report.log(`\nPaced at 100k records/s, JS subscriber, ${RECEIVER_DRAIN_MS} ms drains:\n`);
  report.table(['buffer', 'records', 'k rec/s', 'drops', 'CPU ms per M'], paced);
  report.note(
    'events: records/s are bounded by the generator (one getppid per record), so JS / C near 1 means the subscriber kept up',
  );
  report.note(
    'events: "steady" = CPU and records past the first fifth of the run, counted alike by both consumers (the target); "once" = CPU above the steady rate over the whole run (JS: JIT compilation, first runs of the drain path)',
  );
  report.results['events'] = out;
}
