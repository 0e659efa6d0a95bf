/**
 * What every figure of `npm run bench` writes to: the printed tables and lines, the targets it
 * counts, its notes and its part of bench/results.json. bench/run.ts makes one per run and
 * prints the targets and notes at the end.
 */

export interface Target {
  readonly name: string;
  readonly value: number;
  readonly limit: string;
  readonly met: boolean;
}

export function fmt(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return String(x);
  return x >= 100 ? x.toFixed(0) : x.toFixed(digits);
}

export class Report {
  readonly results: Record<string, unknown> = {};
  readonly targets: Target[] = [];
  readonly notes: string[] = [];

  /** `--quick`: fewer rounds and shorter windows, for a smoke run. */
  readonly quick: boolean;

  constructor(quick: boolean) {
    this.quick = quick;
  }

  log(line: string): void {
    console.log(line);
  }

  target(name: string, value: number, limit: string, met: boolean): void {
    this.targets.push({ name, value, limit, met });
  }

  note(line: string): void {
    this.notes.push(line);
  }

  table(headers: string[], rows: (string | number)[][]): void {
    const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
    const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
    const line = (r: (string | number)[]): string =>
      `| ${r.map((c, i) => String(c).padEnd(widths[i] as number)).join(' | ')} |`;
    this.log(line(cells[0] as string[]));
    this.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of cells.slice(1)) this.log(line(r));
  }
}
