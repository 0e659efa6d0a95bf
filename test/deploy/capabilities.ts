/**
 * The capabilities pipelines/kubernetes.yaml needs, as the manifests must grant them.
 *
 * Derived here from what can be checked: the program sections of each configured receiver's
 * built object (`readelf -S`), by attach family, and the processors configured:
 *   - tracepoint family (tp_btf/, raw_tp/, tracepoint/): BPF (load) + PERFMON (attach; BTF-typed
 *     and raw tracepoints, perf events) — measured in a container with exactly these
 *     (../shared/reference/containers.md);
 *   - uprobe/, uretprobe/, usdt/: also SYS_ADMIN (uprobe attach on current kernels);
 *   - the ksym processor: SYSLOG (real addresses in /proc/kallsyms; without it ERR_KSYM_HIDDEN).
 * None of these families needs the host's PID namespace.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from '../helpers/agent.ts';

export interface Needs {
  /** Sorted capability names without the CAP_ prefix. */
  readonly capabilities: string[];
  readonly hostPID: boolean;
  /** Why, one line per program section or processor. */
  readonly reasons: string[];
}

const families: readonly { prefix: RegExp; caps: readonly string[] }[] = [
  { prefix: /^(tp_btf|raw_tp|raw_tracepoint|tracepoint|tp)\//, caps: ['BPF', 'PERFMON'] },
  { prefix: /^(uprobe|uretprobe|usdt)(\.s)?\//, caps: ['BPF', 'PERFMON', 'SYS_ADMIN'] },
];

/** Program sections (those with a `/`) of a built BPF object. */
export function programSections(object: string): string[] {
  const out = execFileSync('readelf', ['-S', '--wide', object], { encoding: 'utf8' });
  return [...out.matchAll(/^\s*\[\s*\d+\]\s+(\S+)\s/gm)]
    .map((m) => m[1] as string)
    .filter((s) => /^[a-z_]+(\.s)?\//.test(s));
}

export function expectedCapabilities(pipeline = 'pipelines/kubernetes.yaml'): Needs {
  const config = parse(readFileSync(join(repoRoot, pipeline), 'utf8')) as {
    receivers: Record<string, { program: string }>;
    processors?: Record<string, unknown>;
  };
  const caps = new Set<string>();
  const reasons: string[] = [];
  for (const [id, r] of Object.entries(config.receivers)) {
    const sections = programSections(join(repoRoot, 'build/bpf', `${r.program}.bpf.o`));
    if (sections.length === 0) throw new Error(`${id}: no program sections in build/bpf/${r.program}.bpf.o`);
    for (const s of sections) {
      const family = families.find((f) => f.prefix.test(s));
      if (!family) throw new Error(`${id}: section ${s}: no capability rule for this attach type`);
      for (const c of family.caps) caps.add(c);
      reasons.push(`${id} ${s}: ${family.caps.join(', ')}`);
    }
  }
  if (config.processors && 'ksym' in config.processors) {
    caps.add('SYSLOG');
    reasons.push('processor ksym: SYSLOG');
  }
  return { capabilities: [...caps].sort(), hostPID: false, reasons };
}
