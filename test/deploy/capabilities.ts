/**
 * What `ebpf-collector caps` derives for a configuration (src/caps): the capabilities, whether
 * the host's PID namespace is needed, and the container securityContext. The manifests must
 * grant exactly that.
 */
import { runCli } from '../helpers/agent.ts';

export interface Caps {
  /** Capability names without the CAP_ prefix. */
  readonly capabilities: string[];
  readonly hostPID: boolean;
  readonly reasons: { rule: string; capabilities: string[]; neededBy: string[] }[];
  readonly securityContext: Record<string, unknown>;
}

export function caps(pipeline = 'pipelines/kubernetes.yaml'): Caps {
  const r = runCli(['caps', '--config', pipeline, '--output', 'json']);
  if (r.status !== 0)
    throw new Error(`ebpf-collector caps --config ${pipeline}: exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Caps;
}
