/**
 * Errors of the addon's calls as CollectorErrors: messages `verb object: cause`, errno by name
 * and meaning, and libbpf's log (kernel addresses redacted) as `details` (native/object.cc).
 */
import { readFileSync } from 'node:fs';
import { CollectorError } from '../errors.ts';
import { native, type NativeError, type NativeLogLine } from './addon.ts';
import type { AttachResult, ProgramInfo } from './types.ts';

// ---------------------------------------------------------------------------
// Errors.

/** Kernel addresses out of text that leaves the process: `0xffff888102b4d800` → `0x…`. */
export function redact(line: string): string {
  return line.replace(/\b0x[fF]{4}[0-9a-fA-F]{8,12}\b/g, '0x…').replace(/\b[fF]{4}[0-9a-fA-F]{12}\b/g, '…');
}

export function logLines(log: readonly NativeLogLine[] | undefined, withDebug = false): string[] {
  if (!log) return [];
  return log.filter((l) => withDebug || l.level !== 'debug').map((l) => redact(l.text));
}

export function asNative(err: unknown): NativeError {
  return err instanceof Error ? err : new Error(String(err));
}

export function causeOf(e: NativeError): string {
  return e.errnoText ?? e.message;
}

/** A CollectorError for a failed call `verb object`. State errors of a closed object become ERR_BPF_CLOSED. */
export function fail(
  code: string,
  what: string,
  err: unknown,
  extra: readonly string[] = [],
): CollectorError {
  const e = asNative(err);
  if (err instanceof CollectorError) return err;
  const realCode = e.state === 'closed' ? 'ERR_BPF_CLOSED' : code;
  return new CollectorError(realCode, `${what}: ${causeOf(e)}`, {
    details: [...extra, ...logLines(e.log)],
    cause: err,
  });
}

export function closedError(what: string): CollectorError {
  return new CollectorError('ERR_BPF_CLOSED', `${what}: object is closed`);
}

/** Lines between libbpf's BEGIN/END PROG LOAD LOG markers, for the program that failed. */
function verifierLog(lines: readonly string[]): string[] {
  const begin = lines.findIndex((l) => l.includes('-- BEGIN PROG LOAD LOG --'));
  if (begin < 0) return [];
  let end = lines.findIndex((l, i) => i > begin && l.includes('-- END PROG LOAD LOG --'));
  if (end < 0) end = lines.length;
  return lines.slice(begin + 1, end).filter((l) => l.trim() !== '');
}

// Verifier lines that are bookkeeping, not the reason.
const NOT_A_REASON =
  /^(processed \d+ insns|verification time|stack depth|\d+: |;|R\d+(_\w)?=|from \d+ to|last_idx|regs=|parent |propagating|mark_precise|frame\d|func#|Func#|Live regs|arg#\d+ reference type|\s)/;

/**
 * The verifier's reason: the last line of its log that is not an instruction,
 * state dump or statistic — plus `(file.c:line)` from the last source
 * annotation before it, when the object has line info.
 */
export function verifierReason(log: readonly string[]): string | undefined {
  for (let i = log.length - 1; i >= 0; i--) {
    const line = log[i] as string;
    if (NOT_A_REASON.test(line)) continue;
    for (let j = i - 1; j >= 0; j--) {
      const m = /^;.* @ (\S+):(\d+)$/.exec(log[j] as string);
      if (m && m[2] !== '0') return `${line} (${m[1]}:${m[2]})`;
    }
    return line;
  }
  return undefined;
}

/**
 * An extern the object uses that nothing defines, as libbpf logs it: at open, an extern
 * with no BTF at all (`failed to find BTF for extern 'memcmp'`: typically a libc call the
 * compiler emitted, which BPF cannot make); at load, a `__ksym` the kernel's BTF lacks
 * (`extern (func ksym) 'x': not found in kernel or module BTFs`). libbpf's errno (ENOENT,
 * ESRCH) says nothing of that, so the extern is the headline.
 */
export function externError(what: string, err: unknown): CollectorError | undefined {
  const e = asNative(err);
  const lines = (e.log ?? []).map((l) => redact(l.text));
  for (const line of lines) {
    const noBtf = /failed to find BTF for extern '([^']+)'/.exec(line);
    if (noBtf) {
      return new CollectorError(
        'ERR_BPF_EXTERN',
        `${what}: extern '${noBtf[1]}' is not defined: neither the object nor the kernel has BTF for it ` +
          '(a C library function? BPF programs cannot call it: use a __builtin_ with a constant size, or a loop)',
        { details: logLines(e.log), cause: err },
      );
    }
    const ksym = /extern \((func|var) ksym\) '([^']+)': not found in kernel/.exec(line);
    if (ksym) {
      return new CollectorError(
        'ERR_BPF_EXTERN',
        `${what}: extern ${ksym[1] === 'func' ? 'kfunc' : 'kernel variable'} '${ksym[2]}' is not in this kernel's BTF ` +
          '(declare it __weak and check bpf_ksym_exists() to run without it)',
        { details: logLines(e.log), cause: err },
      );
    }
  }
  return undefined;
}

export function loadError(
  path: string,
  err: unknown,
  programs: readonly ProgramInfo[],
  btfPath?: string,
): CollectorError {
  const e = asNative(err);
  if (e.state === 'closed') return closedError(`load ${path}`);
  const extern = externError(`load ${path}`, err);
  if (extern) return extern;
  const all = (e.log ?? []).map((l) => redact(l.text));
  const progLine = all.find((l) => /^prog '[^']+': (BPF program load failed|failed to load)/.test(l));
  const prog = progLine ? /^prog '([^']+)'/.exec(progLine)?.[1] : undefined;
  const mapLine = all.find((l) => /^map '[^']+': (failed|error)/.test(l));
  const map = mapLine ? /^map '([^']+)'/.exec(mapLine)?.[1] : undefined;
  const vlog = verifierLog(all);
  const reason = verifierReason(vlog);
  if (prog && reason) {
    return new CollectorError(
      'ERR_BPF_VERIFIER',
      `load ${path}: program ${prog}: verifier rejected it: ${reason}`,
      {
        details: vlog.slice(-20),
        cause: err,
      },
    );
  }
  const cause = causeOf(e);
  const details = logLines(e.log);
  const denied = e.errnoName === 'EPERM' ? deniedWithCapabilities('bpf()') : undefined;
  if (prog) {
    const type = programs.find((p) => p.name === prog)?.type;
    const hints: string[] = [];
    if (denied?.seccomp) {
      return new CollectorError('ERR_BPF_LOAD', `load ${path}: program ${prog}: ${cause}: ${denied.cause}`, {
        details: [denied.fix, ...details],
        cause: err,
      });
    }
    if (e.errnoName === 'EPERM' && (type === 'tracing' || type === 'lsm' || type === 'ext')) {
      hints.push(
        `the kernel refused a ${type} program before the verifier ran (its log is empty): this kernel may lack BPF ` +
          'trampolines (fentry/fexit/lsm); libbpf\'s "ulimit -l" hint does not apply where BPF memory is charged to the memory cgroup',
      );
    }
    return new CollectorError('ERR_BPF_LOAD', `load ${path}: program ${prog}: ${cause}`, {
      details: [...hints, ...details],
      cause: err,
    });
  }
  if (denied) {
    return new CollectorError('ERR_BPF_LOAD', `load ${path}: ${cause}: ${denied.cause}`, {
      details: [denied.fix, ...details],
      cause: err,
    });
  }
  const btfFailed = all.some((l) => l.startsWith('failed to parse target BTF'));
  const subject = map
    ? `map ${map}: `
    : btfFailed
      ? `read BTF ${btfPath ?? '/sys/kernel/btf/vmlinux'} for CO-RE: `
      : '';
  return new CollectorError('ERR_BPF_LOAD', `load ${path}: ${subject}${cause}`, { details, cause: err });
}

const CAP_SYS_ADMIN = 21n;
const CAP_BPF = 39n;

/**
 * EPERM although the process holds CAP_BPF (or CAP_SYS_ADMIN): not a missing
 * capability but a filter in front of the system call — a seccomp profile (container
 * runtimes' default profiles refuse bpf() and perf_event_open()) or an LSM.
 * `seccomp` says whether this process runs under a seccomp filter (/proc/self/status).
 */
export function deniedWithCapabilities(
  call: string,
): { cause: string; fix: string; seccomp: boolean } | undefined {
  const eff = native().capsGet().effective;
  if (((eff >> CAP_BPF) & 1n) === 0n && ((eff >> CAP_SYS_ADMIN) & 1n) === 0n) return undefined;
  let filters = 0;
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    filters = Number(
      /^Seccomp_filters:\s*(\d+)/m.exec(status)?.[1] ?? (/^Seccomp:\s*2/m.test(status) ? 1 : 0),
    );
  } catch {
    // no procfs: say both
  }
  const held = ((eff >> CAP_BPF) & 1n) === 1n ? 'CAP_BPF' : 'CAP_SYS_ADMIN';
  return filters > 0
    ? {
        seccomp: true,
        cause: `refused although the process holds ${held}: its seccomp filter (${filters} installed) or an LSM likely denies ${call}`,
        fix:
          'fix: allow bpf and perf_event_open in the seccomp profile — the project ships one (deploy/seccomp/ebpf-collector.json; ' +
          'Kubernetes: seccompProfile Localhost profiles/ebpf-collector.json, or Unconfined as a fallback; podman/docker: --security-opt seccomp=…)',
      }
    : {
        seccomp: false,
        cause: `refused although the process holds ${held} and runs without a seccomp filter: an LSM (SELinux, AppArmor, the BPF LSM) or kernel lockdown likely denies ${call}`,
        fix: 'fix: check the audit log (ausearch -m avc, dmesg) and the LSM policy for bpf and perfmon permissions',
      };
}

/** The reason a hardware perf event fails where the kernel has no PMU (a VM without vPMU). */
export const NO_PMU = 'no hardware PMU (virtualised?)';

/** perf_event/type=0 (hardware) or 3 (hardware cache) refused with ENOENT/EOPNOTSUPP/ENODEV. */
export function noPmu(section: string, errno: string | undefined): boolean {
  const type = /^perf_event\/(?:.*,)?type=(\w+)/.exec(section)?.[1];
  const hw = type !== undefined && (Number(type) === 0 || Number(type) === 3);
  return hw && (errno === 'ENOENT' || errno === 'EOPNOTSUPP' || errno === 'ENODEV');
}

export function notAttached(
  program: string,
  section: string,
  error: string,
  errno?: string,
  log: readonly string[] = [],
): AttachResult {
  return errno === undefined
    ? { program, section, attached: false, error, log }
    : { program, section, attached: false, error, errno, log };
}
