import type { AgentHealth } from './component.ts';

/**
 * `/readyz` and `health_check` bodies from the agent's health (health.ts): what is
 * not ready, then what is degraded (ready, with problems). Text for a person and a
 * probe's log; JSON when the client asks for it (`Accept: application/json`).
 */

/** `ready` alone when all is well; otherwise a first line and one line per problem. */
export function healthText(h: AgentHealth): string {
  const lines = [h.ready ? 'ready' : `not ready (${h.phase})`];
  const notReady = h.components.filter((c) => !c.ready);
  const degraded = h.components.filter((c) => c.ready && c.problems.length > 0);
  for (const [title, list] of [
    ['not ready:', notReady],
    ['degraded:', degraded],
  ] as const) {
    if (list.length === 0) continue;
    lines.push(title);
    for (const c of list) {
      const problems = c.problems.length > 0 ? c.problems : ['not ready'];
      for (const p of problems) lines.push(`  ${c.kind} ${c.id}: ${p}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export interface HealthJson {
  readonly status: 'ready' | 'not ready';
  readonly phase: AgentHealth['phase'];
  readonly components: readonly {
    readonly id: string;
    readonly kind: string;
    readonly ready: boolean;
    readonly problems: readonly string[];
  }[];
}

/** Every component with its readiness and problems (details are for /status). */
export function healthJson(h: AgentHealth): HealthJson {
  return {
    status: h.ready ? 'ready' : 'not ready',
    phase: h.phase,
    components: h.components.map((c) => ({ id: c.id, kind: c.kind, ready: c.ready, problems: c.problems })),
  };
}

/** Whether the request's Accept header prefers JSON. */
export function wantsJson(accept: string | undefined): boolean {
  return accept !== undefined && /\bapplication\/json\b/i.test(accept);
}
