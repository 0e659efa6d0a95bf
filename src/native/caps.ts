/**
 * Linux capabilities of this process, on every thread (native/caps.cc).
 *
 * Capabilities are a per-thread attribute: Node's 7–11 threads (libuv's pool,
 * V8 platform workers, the inspector's signal thread) each hold their own sets.
 * `dropCapabilities` has the addon apply the new sets on every thread, then
 * checks `/proc/self/task/<tid>/status` of every thread and throws
 * `ERR_CAPS_DROP` when one still holds a capability it should not. Threads
 * created afterwards inherit the sets of the thread that creates them.
 *
 * io_uring's kernel threads live in /proc/self/task too but run no user code, so no
 * thread can change their sets. An io-wq worker ("iou-wrk-<tid>": libuv batches
 * epoll_ctl through io_uring, and the kernel hands a request that would block to a
 * worker) keeps the sets of the thread it was started for (the kernel keeps a thread's
 * last worker until the thread exits), but the kernel runs every request it takes with
 * the credentials its submitter had at submission: it is reported, not a failure. An
 * SQPOLL thread ("iou-sqp-<tid>") submits with the credentials its ring was created
 * with, for as long as the ring lives: a failure (libuv makes none; a native module could).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { CollectorError } from '../errors.ts';
import { nativeAddon } from './addon.ts';

/** Capability numbers → names, as in linux/capability.h (without `CAP_`; Kubernetes spells them so). */
export const CAPABILITY_NAMES: readonly string[] = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
];

/** `cap_syslog`, `CAP_SYSLOG`, `syslog` or `SYSLOG` → `SYSLOG`; undefined for an unknown name. */
export function capabilityName(spelling: string): string | undefined {
  const name = spelling.trim().toUpperCase().replace(/^CAP_/, '');
  return CAPABILITY_NAMES.includes(name) ? name : undefined;
}

export function maskOf(names: Iterable<string>): bigint {
  let mask = 0n;
  for (const n of names) {
    const i = CAPABILITY_NAMES.indexOf(n);
    if (i < 0) throw new Error(`unknown capability ${n}`);
    mask |= 1n << BigInt(i);
  }
  return mask;
}

/** Names of the bits set in `mask`, in number order (unknown bits as `CAP_<n>`). */
export function namesOf(mask: bigint): string[] {
  const out: string[] = [];
  for (let i = 0; i < 64; i++) {
    if ((mask >> BigInt(i)) & 1n) out.push(CAPABILITY_NAMES[i] ?? `CAP_${i}`);
  }
  return out;
}

/** One thread's sets, as bit masks (bit n = capability n). */
export interface CapabilitySets {
  readonly effective: bigint;
  readonly permitted: bigint;
  readonly inheritable: bigint;
  readonly ambient: bigint;
  readonly bounding: bigint;
}

export interface ThreadCapabilities extends CapabilitySets {
  readonly tid: number;
  /** The thread's name (`comm`): MainThread, libuv-worker, V8Worker, … */
  readonly name: string;
  /** An io_uring kernel thread (PF_IO_WORKER in its stat flags): an io-wq worker or an SQPOLL thread. */
  readonly io?: 'worker' | 'sqpoll';
}

const PF_IO_WORKER = 0x10;

/** io_uring's kind of kernel thread `tid` is, from the flags field of its stat; undefined for others. */
function ioThreadKind(pid: number | 'self', tid: string, name: string): ThreadCapabilities['io'] {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the ")" that ends comm: state ppid pgrp session tty_nr tpgid flags …
  const flags = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[6]);
  if (!(flags & PF_IO_WORKER)) return undefined;
  return name.startsWith('iou-sqp') ? 'sqpoll' : 'worker';
}

/** The calling (JS) thread's sets, from capget(2) and prctl(2). */
export function currentCapabilities(): CapabilitySets & { readonly lastCap: number } {
  return nativeAddon().capsGet();
}

/** The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap; 38 on < 5.8: no BPF, PERFMON). */
export function lastCapability(): number {
  return currentCapabilities().lastCap;
}

/** Every thread of a process, from /proc/<pid>/task/<tid>/status (threads that end meanwhile are skipped). */
export function threadCapabilities(pid: number | 'self' = 'self'): ThreadCapabilities[] {
  const out: ThreadCapabilities[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch {
      continue;
    }
    const field = (key: string): string => new RegExp(`^${key}:\\s*(\\S*)`, 'm').exec(status)?.[1] ?? '';
    const hex = (key: string): bigint => BigInt(`0x${field(key) || '0'}`);
    const name = field('Name');
    const io = ioThreadKind(pid, tid, name);
    out.push({
      tid: Number(tid),
      name,
      ...(io ? { io } : {}),
      effective: hex('CapEff'),
      permitted: hex('CapPrm'),
      inheritable: hex('CapInh'),
      ambient: hex('CapAmb'),
      bounding: hex('CapBnd'),
    });
  }
  return out.sort((a, b) => a.tid - b.tid);
}

export interface DropResult {
  /** The calling thread's permitted set before the drop. */
  readonly before: readonly string[];
  /** What every thread holds now (effective = permitted). */
  readonly kept: readonly string[];
  /** Threads the drop was applied to, and the thread count seen in the check afterwards. */
  readonly threads: number;
  readonly checkedThreads: number;
  /** Whether the bounding set was reduced too (needs CAP_SETPCAP at the time of the drop). */
  readonly boundingDropped: boolean;
  /** io-wq workers still holding more than the kept set (see the module's comment). */
  readonly ioWorkers: readonly {
    readonly tid: number;
    readonly name: string;
    readonly holds: readonly string[];
  }[];
}

/** How long the drop waits for every thread to acknowledge (a thread runs the handler when scheduled). */
const ACK_TIMEOUT_MS = 5000;

/**
 * Keep only `keep` (names; those the process does not hold are left out) on every
 * thread: effective = permitted = keep, inheritable and ambient empty, and the
 * bounding set reduced to `keep` when the process holds CAP_SETPCAP. Then checks
 * every thread's status; throws ERR_CAPS_DROP naming each thread that kept more.
 */
export function dropCapabilities(keep: Iterable<string>): DropResult {
  const before = currentCapabilities();
  const r = nativeAddon().capsSetAllThreads(maskOf(keep), ACK_TIMEOUT_MS);
  const problems: string[] = [
    ...r.failures.map((f) => `thread ${f.tid}: ${f.step}: ${f.errnoText}`),
    ...r.timedOut.map((tid) => `thread ${tid}: did not acknowledge within ${ACK_TIMEOUT_MS} ms`),
  ];
  const threads = threadCapabilities('self');
  const ioWorkers: DropResult['ioWorkers'][number][] = [];
  for (const t of threads) {
    const extra = (set: bigint): bigint => set & ~r.keep;
    if (t.io === 'worker') {
      const holds = extra(t.effective | t.permitted);
      if (holds !== 0n) ioWorkers.push({ tid: t.tid, name: t.name, holds: namesOf(holds) });
      continue;
    }
    if (t.io === 'sqpoll') {
      problems.push(
        `thread ${t.tid} (${t.name}): an io_uring SQPOLL thread submits with the credentials its ring was created with; ` +
          'they cannot be dropped: a ring with SQPOLL must be made after the drop',
      );
      continue;
    }
    const sets: [string, bigint][] = [
      ['CapEff', extra(t.effective)],
      ['CapPrm', extra(t.permitted)],
      ['CapInh', t.inheritable],
      ['CapAmb', t.ambient],
    ];
    if (r.bounding) sets.push(['CapBnd', extra(t.bounding)]);
    for (const [set, bits] of sets) {
      if (bits !== 0n)
        problems.push(`thread ${t.tid} (${t.name}): ${set} still holds ${namesOf(bits).join(', ')}`);
    }
  }
  if (problems.length > 0) {
    throw new CollectorError(
      'ERR_CAPS_DROP',
      `drop capabilities to ${namesOf(r.keep).join(', ') || 'none'}: ${problems.length} problem(s) on ${threads.length} threads`,
      { details: problems },
    );
  }
  return {
    before: namesOf(before.permitted),
    kept: namesOf(r.keep),
    threads: r.threads,
    checkedThreads: threads.length,
    boundingDropped: r.bounding,
    ioWorkers,
  };
}
