/**
 * Which Linux capabilities a configuration needs, and why: the one place that
 * knows it. `ebpf-collector caps` prints it (with the matching Kubernetes
 * securityContext), the agent checks the process against it before loading
 * and, after every program is attached, keeps only what it still needs.
 *
 * Each rule was checked on kernel 6.18 by running the agent with exactly the
 * derived set (setpriv --bounding-set) and with one capability less
 * (src/caps/derive.kernel.test.ts). Kernels before 5.8 have no CAP_BPF and
 * CAP_PERFMON: there CAP_SYS_ADMIN stands for both (the `privileged` preset).
 */
import { openObject, type ObjectSpec } from '../native/index.ts';
import { resolveProgramSync, type ResolvedProgram } from '../receivers/ebpf/resolve.ts';
import type { EbpfReceiverConfig } from '../receivers/ebpf/config.ts';
import { parseTargetSection } from '../receivers/ebpf/targets.ts';
import { typeOf } from '../pipeline/graph.ts';
import { CollectorError, CollectorErrors } from '../errors.ts';
import { loadAgentConfig, type AgentConfig } from '../service.ts';

/** A rule: the capabilities a kind of program or component needs, and the reason, in words. */
export interface Rule {
  readonly capabilities: readonly string[];
  readonly reason: string;
  /** Still needed after every program is attached (kept by the runtime drop). */
  readonly afterAttach: boolean;
}

/** The rules, by kind. README.md's "Least privilege" table says the same in prose. */
export const RULES = {
  load: {
    capabilities: ['BPF'],
    reason: 'create maps and load programs: bpf(BPF_MAP_CREATE, BPF_PROG_LOAD) needs CAP_BPF',
    afterAttach: false,
  },
  tracing: {
    capabilities: ['BPF', 'PERFMON'],
    reason:
      'tracing program types (tracepoint, raw_tp, tp_btf, kprobe, fentry, perf_event, iter) load only with CAP_PERFMON, ' +
      'and their perf events (tracepoints, kprobes, software events) are opened with it',
    afterAttach: false,
  },
  uprobe: {
    capabilities: ['BPF', 'PERFMON'],
    reason:
      'a uprobe is a perf event of the uprobe PMU: CAP_PERFMON (measured: attaches with BPF + PERFMON only)',
    afterAttach: false,
  },
  usdt: {
    capabilities: ['BPF', 'PERFMON', 'SYS_ADMIN'],
    reason:
      'USDT probes (uprobes with a semaphore reference counter): measured on 6.18, perf_event_open is refused ' +
      'with EACCES unless the process holds CAP_SYS_ADMIN',
    afterAttach: false,
  },
  network: {
    capabilities: ['BPF', 'NET_ADMIN'],
    reason: 'network program types (xdp, tc, cgroup_skb, sockops, …) load and attach only with CAP_NET_ADMIN',
    afterAttach: false,
  },
  unknown: {
    capabilities: ['BPF', 'PERFMON', 'SYS_ADMIN'],
    reason: 'a program section this table does not know: CAP_SYS_ADMIN covers every program type',
    afterAttach: false,
  },
  perfBuffer: {
    capabilities: ['BPF', 'PERFMON'],
    reason: 'a perf event array is read through one perf event per CPU (all processes): CAP_PERFMON',
    afterAttach: false,
  },
  kaddrs: {
    capabilities: ['SYSLOG'],
    reason:
      '`kaddrs` globals are read from /proc/kallsyms before load; it shows real addresses only with CAP_SYSLOG',
    afterAttach: false,
  },
  kallsyms: {
    capabilities: ['SYSLOG'],
    reason:
      'kernel addresses are decoded with /proc/kallsyms, which shows real addresses only with CAP_SYSLOG; ' +
      'the table is read again on a miss (modules and BPF programs loaded later), so it is kept',
    afterAttach: true,
  },
} as const satisfies Record<string, Rule>;

export type RuleName = keyof typeof RULES;

/** Why the pod needs the host's PID namespace. */
export const HOST_PID_REASON =
  'uprobe and USDT targets are files of other processes (the host, other containers): the agent reaches them ' +
  'through /proc/<pid>/root, and a probe on the agent’s own copy of a library never fires for them';

/**
 * Load a config for `caps`: capabilities do not depend on the values of `${env:…}`
 * references, and where `caps` runs (CI, a workstation) the pod's variables
 * (K8S_NODE_NAME, …) are not set. A variable the config needs without a default
 * reads as `unset-<NAME>`; every other problem is reported as by `validate`.
 */
export async function loadConfigForCaps(
  paths: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<AgentConfig> {
  try {
    return await loadAgentConfig(paths, env);
  } catch (err) {
    if (!(err instanceof CollectorErrors)) throw err;
    const unset = err.errors.map((e) =>
      e.code === 'ERR_CONFIG_ENV' ? /^environment variable (\w+) is not set/.exec(e.message)?.[1] : undefined,
    );
    if (unset.some((n) => n === undefined)) throw err;
    const placeholders = Object.fromEntries(unset.map((n) => [n as string, `unset-${n}`]));
    return loadAgentConfig(paths, { ...env, ...placeholders });
  }
}

/** The rule for a program section (libbpf's spelling). */
export function ruleOfSection(section: string): RuleName {
  const kind = section.split('/')[0] ?? '';
  if (kind === 'usdt') return 'usdt';
  if (/^u(ret)?probe(\.s|\.multi)?$/.test(kind)) return 'uprobe';
  if (
    /^(tracepoint|tp|raw_tp|raw_tracepoint|raw_tp\.w|raw_tracepoint\.writable|tp_btf|fentry|fexit|fmod_ret|fentry\.s|fexit\.s|fmod_ret\.s|lsm|lsm\.s|lsm_cgroup|kprobe|kretprobe|kprobe\.multi|kretprobe\.multi|ksyscall|kretsyscall|iter|iter\.s|syscall|perf_event)$/.test(
      kind,
    )
  )
    return 'tracing';
  if (
    /^(xdp|xdp\.frags|tc|tcx|classifier|action|cgroup_skb|cgroup|sockops|sk_skb|sk_msg|sk_lookup|sk_reuseport|flow_dissector|lwt_in|lwt_out|lwt_xmit|lwt_seg6local|netfilter|socket)$/.test(
      kind,
    )
  )
    return kind === 'socket' ? 'load' : 'network';
  return 'unknown';
}

/** One capability need: who needs it and the rule that says why. */
export interface Need {
  readonly capability: string;
  /** `ebpf/timers: tp_btf/timer_start`, `processor ksym`, … */
  readonly by: string;
  readonly rule: RuleName;
}

export interface ProgramNeeds {
  readonly receiver: string;
  readonly object: string;
  readonly sections: readonly {
    readonly program: string;
    readonly section: string;
    readonly rule: RuleName;
  }[];
}

export interface CapabilityPlan {
  /** Capabilities to start with (sorted by name). */
  readonly capabilities: readonly string[];
  /** Capabilities still needed after every program is attached. */
  readonly afterAttach: readonly string[];
  readonly needs: readonly Need[];
  readonly hostPID: boolean;
  /** Receivers whose uprobe/USDT programs need the host PID namespace. */
  readonly hostPIDBy: readonly string[];
  readonly programs: readonly ProgramNeeds[];
}

/** Decoders that read /proc/kallsyms. */
const KALLSYMS_DECODERS = new Set(['ksym', 'kstack']);

/** The plan for a checked config (opens each receiver's object file: no kernel work, no privilege). */
export function deriveCapabilities(config: AgentConfig): CapabilityPlan {
  const needs: Need[] = [];
  const programs: ProgramNeeds[] = [];
  const hostPIDBy: string[] = [];
  const add = (rule: RuleName, by: string): void => {
    for (const capability of RULES[rule].capabilities) needs.push({ capability, by, rule });
  };
  const used = new Set(config.pipelines.flatMap((p) => p.receivers));
  for (const [id, { config: c, configDir }] of config.components.receivers) {
    if (typeOf(id) !== 'ebpf' || !used.has(id)) continue;
    const rc = c as EbpfReceiverConfig;
    const resolved = resolveProgramSync(rc, configDir).program;
    if (!resolved) continue; // the config check reported it
    let p: ProgramNeeds;
    let perf: boolean;
    try {
      p = programNeeds(id, resolved.objectPath);
      perf = perfBuffers(resolved.objectPath);
    } catch (err) {
      // The object cannot be opened: an error of the receiver's `program` key.
      if (err instanceof CollectorError && err.path === undefined && err.position === undefined)
        throw new CollectorError(err.code, err.message, {
          path: `receivers.${id}.program`,
          details: err.details,
          cause: err,
        });
      throw err;
    }
    programs.push(p);
    add('load', `${id}: ${resolved.name}`);
    for (const s of p.sections) add(s.rule, `${id}: ${s.section}`);
    if (p.sections.some((s) => needsHostPid(s.section))) hostPIDBy.push(id);
    if (perf) add('perfBuffer', `${id}: perf event array`);
    if (rc.kaddrs.length + resolved.kaddrs.length > 0) add('kaddrs', `${id}: kaddrs`);
    if (usesKallsyms(resolved)) add('kallsyms', `${id}: ksym/kstack decoders`);
  }
  for (const p of config.pipelines) {
    if (p.processors.some((id) => typeOf(id) === 'ksym')) add('kallsyms', `${p.id}: processor ksym`);
  }
  const unique = dedupe(needs);
  const names = (list: readonly Need[]): string[] => [...new Set(list.map((n) => n.capability))].sort();
  return {
    capabilities: names(unique),
    afterAttach: names(unique.filter((n) => RULES[n.rule].afterAttach)),
    needs: unique,
    hostPID: hostPIDBy.length > 0,
    hostPIDBy,
    programs,
  };
}

function programNeeds(receiver: string, object: string): ProgramNeeds {
  const spec = openSpec(object);
  try {
    return {
      receiver,
      object,
      sections: spec
        .programs()
        .map((p) => ({ program: p.name, section: p.section, rule: ruleOfSection(p.section) })),
    };
  } finally {
    spec.close();
  }
}

function perfBuffers(object: string): boolean {
  const spec = openSpec(object);
  try {
    return spec.maps().some((m) => m.type === 'perf_event_array');
  } finally {
    spec.close();
  }
}

function openSpec(object: string): ObjectSpec {
  return openObject(object);
}

/** uprobes on another process's files; the addon's own post_attach_mark (this process) needs no host PIDs. */
function needsHostPid(section: string): boolean {
  const parsed = parseTargetSection(section);
  return parsed !== undefined && parsed.target !== '/proc/self/exe';
}

function usesKallsyms(p: ResolvedProgram): boolean {
  const m = p.metrics;
  const labels = [
    ...[...(m.counters ?? []), ...(m.gauges ?? []), ...(m.histograms ?? [])].flatMap((d) => d.labels ?? []),
    ...p.spans.flatMap((s) => s.labels ?? []),
    ...p.logs.flatMap((l) => l.labels ?? []),
  ];
  return labels.some((l) => l.decoders.some((d) => KALLSYMS_DECODERS.has(d.name)));
}

function dedupe(needs: readonly Need[]): Need[] {
  const seen = new Set<string>();
  return needs.filter((n) => {
    const key = `${n.capability}\0${n.by}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
