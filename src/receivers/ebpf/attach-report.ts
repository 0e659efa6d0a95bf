import type { Logger } from 'pino';
import { NO_PMU } from '../../native/index.ts';
import type { ComponentHealth } from '../../pipeline/component.ts';
import type { SelfFamily } from '../../pipeline/telemetry.ts';
import type { HookAttempt } from './loader.ts';

/**
 * What the receiver says about its hook choice: log lines, self-metrics and health,
 * from the attempts of one load (loader.ts). One rule for all three:
 *
 * - A rejected set followed by a chosen one is the fallback working as designed: an
 *   info line with its reason, and `program_hook_rejected{config,program,hook,reason}` = 1.
 * - The chosen set's programs are `program_attached{config,program,hook,reason}`: 1
 *   attached, 0 failed (loose attachment: objects without hook sets).
 * - No set runs: a required program is a failure (an error line, `program_attached{hook="none"}`
 *   = 0, not ready); an optional one (`optional: true`) is skipped with an info line and
 *   stays ready — its rejected sets say why.
 */
export interface AttachFamilies {
  readonly attached: SelfFamily;
  readonly rejected: SelfFamily;
}

export function attachFamilies(t: { gauge(name: string, help: string): SelfFamily }): AttachFamilies {
  return {
    attached: t.gauge(
      'program_attached',
      'Whether a program of the chosen hook set is attached (1) or failed (0); hook="none": no hook set runs',
    ),
    rejected: t.gauge(
      'program_hook_rejected',
      'A hook set tried and rejected for a program (1), with the reason; the fallback chose another set',
    ),
  };
}

export interface AttachSubject {
  /** ebpf_exporter's config name (`timers`). */
  readonly config: string;
  /** The receiver id (`ebpf/timers`), for messages. */
  readonly id: string;
  /** `optional: true`: the program may not run here without making the agent unready. */
  readonly optional: boolean;
}

const hookName = (a: HookAttempt): string => a.hook || 'default';

/** Set the self-metrics of one load's attempts. */
export function recordAttach(
  families: AttachFamilies,
  subject: AttachSubject,
  attempts: readonly HookAttempt[],
): void {
  const config = subject.config;
  for (const a of attempts) {
    const hook = hookName(a);
    if (!a.ok) {
      const reason = shortReason(a.reason);
      for (const program of a.programs) families.rejected.set({ config, program, hook, reason }, 1);
      continue;
    }
    for (const program of a.programs) {
      const result = a.attached.find((r) => r.program === program);
      const ok = result?.attached ?? false;
      families.attached.set(
        { config, program, hook, reason: ok ? 'ok' : shortReason(result?.error) },
        ok ? 1 : 0,
      );
    }
  }
  const last = attempts.at(-1);
  if (!attempts.some((a) => a.ok) && !subject.optional)
    families.attached.set({ config, program: '', hook: 'none', reason: shortReason(last?.reason) }, 0);
}

/**
 * Log one load's attempts: rejected sets before the chosen one and optional programs that do
 * not run are info; a required program that runs nowhere or does not attach is an error.
 */
export function logAttach(logger: Logger, subject: AttachSubject, attempts: readonly HookAttempt[]): void {
  const chosen = attempts.find((a) => a.ok);
  if (!chosen) {
    const details = attempts.flatMap((a) => [
      `${hookName(a)}: ${a.reason ?? 'failed'}`,
      ...(a.details ?? []).slice(-5).map((d) => `  ${d}`),
    ]);
    if (subject.optional)
      logger.info(
        { details },
        `program ${subject.config} skipped: no hook set runs on this kernel (optional: true)`,
      );
    else
      logger.error(
        { details },
        `${subject.id}: program ${subject.config} cannot run on this kernel: skipped, the rest of the pipeline runs`,
      );
    return;
  }
  for (const a of attempts) {
    if (a.ok) continue;
    logger.info(
      { hook: hookName(a), reason: a.reason, details: a.details, chosen: hookName(chosen) },
      `hook set ${hookName(a)} rejected, falling back`,
    );
  }
  for (const r of chosen.attached) {
    if (r.attached) continue;
    const fields = { program: r.program, reason: r.error, details: r.log };
    if (subject.optional) logger.info(fields, `program ${r.program} did not attach (optional: true)`);
    else logger.error(fields, `program ${r.program} did not attach`);
  }
}

/**
 * Health from the last load's attempts (undefined: not loaded). Ready when a set runs with every
 * program attached, or when the receiver is optional; `details` lists the choice for /status.
 */
export function attachHealth(
  subject: AttachSubject,
  attempts: readonly HookAttempt[] | undefined,
  stopped: boolean,
): ComponentHealth {
  if (stopped) return { ready: false, problems: ['stopped'] };
  if (!attempts) return { ready: false, problems: ['not started'] };
  const chosen = attempts.find((a) => a.ok);
  const rejected = attempts
    .filter((a) => !a.ok)
    .map((a) => ({ hook: hookName(a), reason: a.reason ?? 'failed' }));
  const base = { program: subject.config, optional: subject.optional, rejected };
  if (!chosen) {
    const why = rejected.map((r) => `${r.hook}: ${r.reason}`).join('; ');
    if (subject.optional)
      return { ready: true, problems: [], details: { ...base, hook: 'none', skipped: why } };
    return {
      ready: false,
      problems: [`program ${subject.config} runs on no hook set of this kernel (${why})`],
      details: { ...base, hook: 'none' },
    };
  }
  const missed = chosen.attached.filter((r) => !r.attached);
  const details = {
    ...base,
    hook: hookName(chosen),
    attached: chosen.attached.filter((r) => r.attached).map((r) => r.section),
    ...(missed.length > 0 ? { not_attached: missed.map((r) => r.section) } : {}),
  };
  if (missed.length === 0 || subject.optional) return { ready: true, problems: [], details };
  return {
    ready: false,
    problems: missed.map(
      (r) => `program ${subject.config}:${r.program} (${r.section}) not attached: ${r.error ?? 'failed'}`,
    ),
    details,
  };
}

/** The `reason` label: the errno name, the no-PMU phrase, or the error code. */
export function shortReason(reason: string | undefined): string {
  if (!reason) return 'failed';
  if (reason.startsWith(NO_PMU)) return NO_PMU;
  // A reason like "attach x (perf_event/…): no hardware PMU (virtualised?): ENOENT …".
  if (reason.includes(NO_PMU)) return NO_PMU;
  const m = /\b(E[A-Z0-9]+) \(/.exec(reason);
  if (m?.[1]) return m[1];
  const code = /\[(ERR_[A-Z_]+)\]/.exec(reason);
  return code?.[1] ?? 'failed';
}
