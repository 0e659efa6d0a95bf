import type { AgentHealth, Component, ComponentHealth, ComponentKind } from './component.ts';
import { messageOf } from '../errors.ts';

/**
 * The agent's health from its components': a component without `health()` is
 * ready once the agent runs; one whose `health()` throws is not ready, and the
 * throw is its problem (a probe never fails on a component's bug).
 */
export function agentHealth(
  phase: AgentHealth['phase'],
  components: readonly { readonly id: string; readonly kind: ComponentKind; readonly component: Component }[],
): AgentHealth {
  const list = components.map(({ id, kind, component }) => ({ id, kind, ...healthOf(component, phase) }));
  return { phase, ready: phase === 'running' && list.every((c) => c.ready), components: list };
}

function healthOf(component: Component, phase: AgentHealth['phase']): ComponentHealth {
  if (!component.health) return { ready: phase === 'running', problems: [] };
  try {
    return component.health();
  } catch (err) {
    return { ready: false, problems: [`health check failed: ${messageOf(err)}`] };
  }
}
