/**
 * The process's stop and reload signals. bin/ebpf-collector.js records SIGTERM, SIGINT
 * and SIGHUP from its first line (before the agent's modules load); the CLI takes them
 * over here: its handlers are installed first, then the entry's are removed, so there is
 * no instant without one, and what arrived meanwhile is handed to the new handler.
 */
export const HANDLED_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
export type HandledSignal = (typeof HANDLED_SIGNALS)[number];

interface EarlySignals {
  readonly signals: HandledSignal[];
  release(): void;
}

const KEY = Symbol.for('ebpf-collector.early-signals');

function early(): EarlySignals | undefined {
  const g = globalThis as unknown as Record<symbol, EarlySignals | undefined>;
  const e = g[KEY];
  delete g[KEY];
  return e;
}

/** Handle the signals from now on (for the life of the process); signals that came before are replayed. */
export function takeOverSignals(handler: (signal: HandledSignal) => void): void {
  for (const s of HANDLED_SIGNALS) process.on(s, () => handler(s));
  const e = early();
  e?.release();
  for (const s of e?.signals ?? []) handler(s);
}

/**
 * For short commands (validate, caps, …): give the signals back their default action;
 * one that already came is raised again, so the command ends as it would have.
 */
export function defaultSignals(): void {
  const e = early();
  e?.release();
  const first = e?.signals[0];
  if (first) process.kill(process.pid, first);
}
