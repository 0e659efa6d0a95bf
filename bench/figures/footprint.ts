/** Figure 4 of `npm run bench`: footprint and startup of the default pipeline (bench/footprint.ts). */
import { measureFootprint } from '../footprint.ts';
import { fmt, type Report } from './report.ts';

export async function footprintFigure(report: Report): Promise<void> {
  report.log('\n## 4. Footprint of the agent with pipelines/default.yaml (bench/footprint.ts)\n');
  const intervalS = report.quick ? 5 : 15;
  const f = await measureFootprint({
    idleS: report.quick ? 5 : 15,
    windowS: report.quick ? 20 : 60,
    intervalS,
  });
  report.table(
    ['state', 'RSS MB', 'CPU % of a core', 'window s'],
    [
      ['idle', f.rssIdleMB, f.cpuIdlePercent, f.idleS],
      [
        `scraped every ${intervalS} s (${f.series} series; steady / max RSS)`,
        `${fmt(f.rssScrapeMB)} / ${fmt(f.rssMaxMB)}`,
        f.cpuPercent,
        f.windowS,
      ],
    ],
  );
  report.log(
    `\nstartup to all programs attached ("agent started"): ${fmt(f.startupMs)} ms; one scrape ${fmt(f.scrapeMs)} ms`,
  );
  report.results['footprint'] = f;
  report.target('RSS ≤ 80 MB at a 15 s scrape (default pipeline)', f.rssMaxMB, '≤ 80', f.rssMaxMB <= 80);
  report.target(
    'CPU ≤ 0.5% of a core at a 15 s scrape (default pipeline)',
    f.cpuPercent,
    '≤ 0.5',
    f.cpuPercent <= 0.5,
  );
  report.target(
    'startup to all programs attached < 2 s (default pipeline; issue 6)',
    f.startupMs / 1000,
    '< 2',
    f.startupMs < 2000,
  );
}
