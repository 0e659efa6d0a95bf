/**
 * The scrape figure's heap and GC part, measured in the agent itself: an agent started with
 * V8's GC trace (`--trace-gc --trace-gc-nvp`, one line per collection on its standard output)
 * is scraped over HTTP, unchanged map, many times in a row; every collection during those
 * scrapes gives its pause and the bytes allocated since the one before. Bytes per scrape =
 * their sum over the scrapes (within one young generation, 1 MiB, over the window); GC share =
 * the pauses over the scrapes' own time. It is a separate agent so that the timed GETs of the
 * figure run without the trace.
 */
import { type RunningAgent, startAgentWith } from '../../test/helpers/agent.ts';
import { benchPath } from '../lib.ts';

export interface AgentGc {
  /** Heap bytes allocated per scrape, per series (the whole scrape: HTTP, self-metrics, text). */
  readonly allocPerSeries: number;
  /** Pauses of the collections during the scrapes over the scrapes' time. */
  readonly gcShare: number;
  readonly scavenges: number;
  readonly markCompacts: number;
  readonly scrapes: number;
}

/** Collections in trace text: gc kind, pause ms and bytes allocated since the previous one. */
function collections(text: string): { kind: string; pauseMs: number; allocated: number }[] {
  const out: { kind: string; pauseMs: number; allocated: number }[] = [];
  for (const line of text.split('\n')) {
    const kind = / gc=(\w+)/.exec(line)?.[1];
    const pause = / pause=([\d.]+)/.exec(line)?.[1];
    const allocated = / allocated=(\d+)/.exec(line)?.[1];
    if (kind && pause && allocated) out.push({ kind, pauseMs: Number(pause), allocated: Number(allocated) });
  }
  return out;
}

/** An agent of bench/pipelines/scrape.yaml with V8's GC trace on. */
export function startTracedAgent(): Promise<RunningAgent> {
  return startAgentWith(
    ['run', '--config', benchPath('bench/pipelines/scrape.yaml')],
    {},
    30_000,
    [],
    [],
    ['--trace-gc', '--trace-gc-nvp'],
  );
}

/**
 * `scrapes` GETs of a filled map in a row (`get` waits out the collection sharing and times
 * one), after the agent's start-up collection is over.
 */
export async function agentGc(
  agent: RunningAgent,
  series: number,
  scrapes: number,
  get: () => Promise<number>,
): Promise<AgentGc> {
  // Warm, and past the collection the agent makes of its start-up garbage (1 s after start).
  for (let i = 0; i < 4; i++) await get();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const from = agent.logs.length;
  let ms = 0;
  for (let i = 0; i < scrapes; i++) ms += await get();
  const gcs = collections(agent.logs.slice(from).join(''));
  const allocated = gcs.reduce((n, g) => n + g.allocated, 0);
  const pauses = gcs.reduce((n, g) => n + g.pauseMs, 0);
  return {
    allocPerSeries: allocated / scrapes / series,
    gcShare: pauses / ms,
    scavenges: gcs.filter((g) => g.kind === 's').length,
    markCompacts: gcs.filter((g) => g.kind === 'mc' || g.kind === 'mmc').length,
    scrapes,
  };
}
