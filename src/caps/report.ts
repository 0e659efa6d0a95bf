/**
 * What `ebpf-collector caps` prints, and the start-up check against the
 * capabilities the process holds. The JSON form is a stable interface (the
 * Kubernetes manifests are generated from it; README.md, "Least privilege").
 */
import { stringify } from 'yaml';
import { CollectorError } from '../errors.ts';
import { RULES, HOST_PID_REASON, type CapabilityPlan } from './derive.ts';

/** Where the DaemonSet finds the seccomp profile (deploy/seccomp/ebpf-collector.json, under the kubelet's seccomp root). */
export const SECCOMP_LOCALHOST_PROFILE = 'profiles/ebpf-collector.json';

/** Output of `caps --output json` (version 1). */
export interface CapsReport {
  readonly version: 1;
  /** Capabilities the configured programs need at start. */
  readonly capabilities: readonly string[];
  /** Kept after every program is attached (the rest is dropped on every thread). */
  readonly afterAttach: readonly string[];
  readonly hostPID: boolean;
  /** Per rule (src/caps/derive.ts RULES): its capabilities, the reason and who needs them. */
  readonly reasons: readonly {
    rule: string;
    capabilities: readonly string[];
    reason: string;
    neededBy: string[];
  }[];
  readonly hostPIDReason?: { reason: string; neededBy: readonly string[] };
  /** The container's securityContext (Kubernetes core/v1). */
  readonly securityContext: {
    readonly allowPrivilegeEscalation: false;
    readonly readOnlyRootFilesystem: true;
    readonly privileged: false;
    readonly capabilities: { readonly drop: readonly ['ALL']; readonly add: readonly string[] };
    readonly seccompProfile: { readonly type: 'Localhost'; readonly localhostProfile: string };
  };
}

export function capsReport(plan: CapabilityPlan): CapsReport {
  const reasons = new Map<
    string,
    { rule: string; capabilities: string[]; reason: string; neededBy: string[] }
  >();
  for (const n of plan.needs) {
    const rule = RULES[n.rule];
    const r = reasons.get(n.rule) ?? {
      rule: n.rule,
      capabilities: [...rule.capabilities],
      reason: rule.reason,
      neededBy: [],
    };
    if (!r.neededBy.includes(n.by)) r.neededBy.push(n.by);
    reasons.set(n.rule, r);
  }
  return {
    version: 1,
    capabilities: plan.capabilities,
    afterAttach: plan.afterAttach,
    hostPID: plan.hostPID,
    reasons: [...reasons.values()],
    ...(plan.hostPID ? { hostPIDReason: { reason: HOST_PID_REASON, neededBy: plan.hostPIDBy } } : {}),
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'], add: [...plan.capabilities] },
      seccompProfile: { type: 'Localhost', localhostProfile: SECCOMP_LOCALHOST_PROFILE },
    },
  };
}

export type CapsFormat = 'json' | 'yaml' | 'text';

export function formatCapsReport(report: CapsReport, format: CapsFormat): string {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  if (format === 'yaml') return stringify(report, { aliasDuplicateObjects: false });
  const lines = [
    `capabilities: ${report.capabilities.join(', ') || 'none'}`,
    `kept after attach: ${report.afterAttach.join(', ') || 'none'}`,
    `hostPID: ${report.hostPID ? `yes (${report.hostPIDReason?.neededBy.join(', ') ?? ''})` : 'no'}`,
    '',
    ...report.reasons.flatMap((r) => [
      `${r.capabilities.join(' + ')} (${r.rule}): ${r.reason}`,
      ...r.neededBy.map((b) => `    ${b}`),
    ]),
    ...(report.hostPIDReason ? [`hostPID: ${report.hostPIDReason.reason}`] : []),
    '',
    'securityContext:',
    ...stringify({ securityContext: report.securityContext })
      .split('\n')
      .slice(1)
      .filter((l) => l !== ''),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Capabilities the plan needs that `held` (a mask of the process's effective set)
 * lacks. CAP_SYS_ADMIN also grants what CAP_BPF and CAP_PERFMON do (bpf_capable(),
 * perfmon_capable()); kernels without them (cap_last_cap < 39, before 5.8) need it instead.
 */
export function missingCapabilities(
  plan: CapabilityPlan,
  held: ReadonlySet<string>,
  lastCap: number,
): { capability: string; neededBy: string[]; reasons: string[] }[] {
  const out = new Map<string, { capability: string; neededBy: string[]; reasons: string[] }>();
  for (const n of plan.needs) {
    const covered =
      held.has(n.capability) ||
      ((n.capability === 'BPF' || n.capability === 'PERFMON') && held.has('SYS_ADMIN'));
    if (covered) continue;
    const name =
      (n.capability === 'BPF' || n.capability === 'PERFMON') && lastCap < 39 ? 'SYS_ADMIN' : n.capability;
    if (held.has(name)) continue;
    const m = out.get(name) ?? { capability: name, neededBy: [], reasons: [] };
    if (!m.neededBy.includes(n.by)) m.neededBy.push(n.by);
    const reason = RULES[n.rule].reason;
    if (!m.reasons.includes(reason)) m.reasons.push(reason);
    out.set(name, m);
  }
  return [...out.values()];
}

/** ERR_CAPS_MISSING: one line per missing capability, naming the programs that need it. */
export function missingCapabilitiesError(missing: ReturnType<typeof missingCapabilities>): CollectorError {
  const head = missing.map((m) => `CAP_${m.capability} (needed by ${m.neededBy.join(', ')})`).join('; ');
  return new CollectorError('ERR_CAPS_MISSING', `the process lacks ${head}`, {
    details: [
      ...missing.flatMap((m) => m.reasons.map((r) => `CAP_${m.capability}: ${r}`)),
      '`ebpf-collector caps --config …` prints the capabilities this config needs and a matching securityContext',
    ],
  });
}
