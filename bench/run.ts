/**
 * `npm run bench`: every figure of issue 8 side by side with its floor, in one run.
 * Builds what it needs, runs the figures (bench/figures/*.ts), prints their tables and the
 * targets, writes bench/results.json; the last line says how many targets are met. Figures are
 * medians of several runs; ratios are taken within the same run, because absolute times on a
 * shared VM mean little.
 *
 *   npx node bench/run.ts [--quick] [--only=scrape,events,eventCost,footprint]
 *   (--quick: fewer rounds, for a smoke run; --only: those figures)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { PROGRAMS, eventCostFigure } from './figures/event-cost.ts';
import { eventsFigure } from './figures/events.ts';
import { footprintFigure } from './figures/footprint.ts';
import { Report, fmt } from './figures/report.ts';
import { scrapeFigure } from './figures/scrape.ts';
import { benchPath, root } from './lib.ts';

const report = new Report(process.argv.includes('--quick'));
const t0 = Date.now();

function build(): void {
  const programs = PROGRAMS.map((p) => p.program).filter((p) => existsSync(benchPath(`bpf/${p}.bpf.c`)));
  execFileSync(
    'make',
    ['-s', '-C', benchPath('bpf'), ...programs.map((p) => benchPath(`build/bpf/${p}.bpf.o`))],
    {
      stdio: 'inherit',
    },
  );
  execFileSync('make', ['-s', '-C', benchPath('bench')], { stdio: 'inherit' });
  // The addon: built only when missing, under the lock every rebuild of this checkout takes
  // (waiting also lets a rebuild someone else started finish first).
  execFileSync(
    'flock',
    [
      '/tmp/ebpf-addon.lock',
      'sh',
      '-c',
      'test -f native/build/Release/ebpf_native.node || npx node-gyp rebuild --directory native',
    ],
    { cwd: root, stdio: 'inherit' },
  );
}

function machine(): Record<string, unknown> {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown',
    cpus: c.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    node: process.version,
    libbpf: (() => {
      try {
        return execFileSync('sh', ['-c', "dpkg-query -W -f '${Version}' libbpf1 2>/dev/null"], {
          encoding: 'utf8',
        });
      } catch {
        return 'unknown';
      }
    })(),
    loadAverageAtStart: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    date: new Date().toISOString(),
  };
}

async function main(): Promise<void> {
  build();
  const { results, targets, notes } = report;
  results['machine'] = machine();
  report.log(
    `# ebpf-collector bench (${report.quick ? 'quick' : 'full'}) — ${JSON.stringify(results['machine'])}`,
  );
  const figures: [string, (report: Report) => Promise<void> | void][] = [
    ['scrape', scrapeFigure],
    ['events', eventsFigure],
    ['eventCost', eventCostFigure],
    ['footprint', footprintFigure],
  ];
  const only = process.argv
    .find((a) => a.startsWith('--only='))
    ?.slice(7)
    .split(',');
  for (const [name, fn] of figures) {
    if (only && !only.includes(name)) continue;
    try {
      await fn(report);
    } catch (err) {
      report.note(`${name}: failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
      report.target(`${name}: the figure ran`, 0, 'runs', false);
      report.log(`\n${name} failed: ${String(err)}`);
    }
  }
  report.log('\n## Targets\n');
  report.table(
    ['target', 'value', 'limit', 'met'],
    targets.map((t) => [t.name, t.value, t.limit, t.met ? 'yes' : 'NO']),
  );
  if (notes.length > 0) report.log(`\nNotes:\n${notes.map((n) => `- ${n}`).join('\n')}`);
  results['targets'] = targets;
  results['notes'] = notes;
  results['durationS'] = (Date.now() - t0) / 1000;
  writeFileSync(benchPath('bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
  report.log(`\ntotal ${fmt((Date.now() - t0) / 1000)} s; results in bench/results.json`);
  report.log(`${targets.filter((t) => t.met).length}/${targets.length} targets met`);
}

await main();
