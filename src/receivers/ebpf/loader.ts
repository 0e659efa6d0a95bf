import { clip, CollectorError, messageOf } from '../../errors.ts';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import {
  openObject,
  type AttachResult,
  type BpfObject,
  type MapInfo,
  type ObjectSpec,
  type OpenOptions,
} from '../../native/index.ts';
import { ensureTracefs } from '../../native/tracefs.ts';
import { attachPrograms, type BinaryMap } from './targets.ts';

/**
 * Loading one object with hook fallback. An object that declares
 * HOOK_FALLBACK() (the global `ec_hook_fallback`, bpf/include/hooks.bpf.h)
 * holds alternative hook sets: a program's function name `<set>__<name>` puts
 * it in set `<set>`, programs without `__` belong to every set. Sets are tried
 * in preference order; the first one that loads and attaches fully wins, and
 * the reason every earlier set failed is kept.
 *
 * Other objects (ebpf_exporter's) load every program and attach loosely, as
 * ebpf_exporter does: a program that fails to attach is reported, the rest run.
 */
export const HOOK_FALLBACK_GLOBAL = 'ec_hook_fallback';
export interface LoadRequest {
  readonly path: string;
  readonly openOptions: OpenOptions;
  readonly globals: Readonly<Record<string, number | bigint | boolean | Buffer>>;
  readonly hookOrder: readonly string[];
  /** uprobe/usdt section targets → files to attach to (config `binaries`). */
  readonly binaries?: BinaryMap;
  /**
   * `kaddrs` symbols not in /proc/kallsyms (their `kaddr_<sym>` globals stay 0).
   * A set needing one fails without loading: the sets an object marks with
   * `ec_kaddr__<set>__<sym>` globals (HOOK_NEEDS_KADDR, bpf/include/kaddrs.bpf.h),
   * or every set when the object marks none.
   */
  readonly missingKaddrs?: readonly string[];
  /** Checks the object's maps once it is opened, before anything is loaded; throws to refuse. */
  readonly checkMaps?: (maps: readonly MapInfo[]) => void;
}

/** Globals `ec_kaddr__<set>__<sym>` → set → symbols it needs; undefined when the object marks none. */
export function kaddrNeeds(globalNames: readonly string[]): Map<string, string[]> | undefined {
  const needs = new Map<string, string[]>();
  for (const name of globalNames) {
    const m = /^ec_kaddr__([A-Za-z0-9_]+?)__(\w+)$/.exec(name);
    if (!m) continue;
    const set = m[1] as string;
    needs.set(set, [...(needs.get(set) ?? []), m[2] as string]);
  }
  return needs.size > 0 ? needs : undefined;
}

export interface HookAttempt {
  /** Hook set name, or '' when the object has no sets. */
  readonly hook: string;
  readonly ok: boolean;
  /** Programs of the set (autoloaded). */
  readonly programs: readonly string[];
  /** Why it failed (one line), when it did. */
  readonly reason?: string;
  readonly details?: readonly string[];
  readonly attached: readonly AttachResult[];
}

export interface LoadOutcome {
  /** The live object, when some set loaded and attached. */
  readonly object?: BpfObject;
  readonly hook?: string;
  readonly attempts: readonly HookAttempt[];
  /** Every hook set the object declares, in preference order (empty: no sets). */
  readonly sets: readonly string[];
}

export function hookSetOf(programName: string): string | undefined {
  const i = programName.indexOf('__');
  return i > 0 ? programName.slice(0, i) : undefined;
}

/** Hook sets present in a spec, in preference order (unknown sets last, by name). */
export function orderedHookSets(spec: ObjectSpec, preference: readonly string[]): string[] {
  const sets = new Set<string>();
  for (const p of spec.programs()) {
    const set = hookSetOf(p.name);
    if (set) sets.add(set);
  }
  const rank = (s: string): number => {
    const i = preference.indexOf(s);
    return i < 0 ? preference.length : i;
  };
  return [...sets].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/**
 * Open, choose, load and attach. Throws only when the object cannot be opened
 * (missing file, not an ELF, bad global): a kernel that cannot run any set is
 * an outcome without `object`, not an exception.
 */
export function loadWithFallback(req: LoadRequest): LoadOutcome {
  const probe = open(req);
  let sets: string[];
  let needs: Map<string, string[]> | undefined;
  try {
    req.checkMaps?.(probe.maps());
    const globals = probe.globals().map((g) => g.name);
    const declared = globals.includes(HOOK_FALLBACK_GLOBAL);
    sets = declared ? orderedHookSets(probe, req.hookOrder) : [];
    needs = kaddrNeeds(globals);
  } finally {
    probe.close();
  }
  const attempts: HookAttempt[] = [];
  for (const hook of sets.length > 0 ? sets : ['']) {
    const missing = (req.missingKaddrs ?? []).filter(
      (sym) => !needs || (needs.get(hook) ?? []).includes(sym),
    );
    if (missing.length > 0) {
      const names = probeNames(req, hook);
      attempts.push({
        hook,
        ok: false,
        programs: names,
        reason:
          `kaddrs: ${missing.join(', ')} not in /proc/kallsyms ` +
          '(data symbols need CONFIG_KALLSYMS_ALL) [ERR_EBPF_KADDR]',
        attached: [],
      });
      continue;
    }
    const attempt = tryHookSet(req, hook);
    attempts.push(attempt.attempt);
    if (attempt.object) return { object: attempt.object, hook, attempts, sets };
  }
  return { attempts, sets };
}

/** The programs of a set, for reporting a set that was not tried. */
function probeNames(req: LoadRequest, hook: string): string[] {
  const spec = openObject(req.path, req.openOptions);
  try {
    return spec
      .programs()
      .map((p) => p.name)
      .filter((name) => hook === '' || (hookSetOf(name) ?? hook) === hook);
  } finally {
    spec.close();
  }
}

/**
 * Programs the receiver runs at every collection, before it reads the maps:
 * `iter/…` programs are read to the end through a new iterator (so they can
 * refresh a map the metrics read), `syscall` programs are test-run once.
 */
export interface CollectionRun {
  readonly program: string;
  readonly kind: 'iter' | 'test_run';
}

export function collectionRuns(object: BpfObject, attempt: HookAttempt): CollectionRun[] {
  const attached = new Set(attempt.attached.filter((a) => a.attached).map((a) => a.program));
  return object
    .programs()
    .filter((p) => attached.has(p.name))
    .flatMap((p): CollectionRun[] =>
      p.section.startsWith('iter/') || p.section.startsWith('iter.s/')
        ? [{ program: p.name, kind: 'iter' }]
        : p.section === 'syscall'
          ? [{ program: p.name, kind: 'test_run' }]
          : [],
    );
}

/** Run them; returns the failures (program, cause) — a collection goes on without them. */
export function runAtCollection(
  object: BpfObject,
  runs: readonly CollectionRun[],
): { program: string; error: unknown }[] {
  const failures: { program: string; error: unknown }[] = [];
  for (const r of runs) {
    try {
      if (r.kind === 'iter') object.iterRead(r.program);
      else object.testRun(r.program);
    } catch (error) {
      failures.push({ program: r.program, error });
    }
  }
  return failures;
}

/**
 * Open and set the globals. A global the object lacks, or a value that does not fit it, is
 * a config error (exit 2) with the key path of the receiver key it came from (`globals.<name>`,
 * or `kaddrs` for a `kaddr_<sym>`), for the receiver to position.
 */
function open(req: LoadRequest): ObjectSpec {
  const spec = openObject(req.path, req.openOptions);
  let current = '';
  try {
    const declared = new Set(spec.globals().map((g) => g.name));
    for (const [name, value] of Object.entries(req.globals)) {
      current = name;
      if (!declared.has(name)) {
        const known = [...declared].filter((g) => !g.startsWith('ec_')).join(', ') || 'none';
        throw new CollectorError(
          C.unknownKey,
          `${req.path} has no const volatile global ${clip(name)} (it has: ${known})`,
          { path: globalKey(name) },
        );
      }
      spec.setGlobal(name, value);
    }
  } catch (err) {
    spec.close();
    if (err instanceof CollectorError && err.path === undefined && current !== '')
      throw new CollectorError(C.value, err.message, { path: globalKey(current), cause: err });
    throw err;
  }
  return spec;
}

function globalKey(name: string): string {
  return name.startsWith('kaddr_') ? 'kaddrs' : `globals.${name}`;
}

/** `hook` '' = no hook sets: every program, loose attachment. */
function tryHookSet(req: LoadRequest, hook: string): { attempt: HookAttempt; object?: BpfObject } {
  const spec = open(req);
  const programs = spec.programs();
  const inSet = (name: string): boolean => {
    if (hook === '') return true;
    const set = hookSetOf(name);
    return set === undefined || set === hook;
  };
  for (const p of programs) spec.setAutoload(p.name, inSet(p.name));
  const chosen = programs.filter((p) => inSet(p.name));
  const names = chosen.map((p) => p.name);
  if (chosen.some((p) => /^(tracepoint|tp)\//.test(p.section))) {
    try {
      ensureTracefs();
    } catch (err) {
      spec.close();
      return { attempt: failed(hook, names, err) };
    }
  }
  let object: BpfObject;
  try {
    object = spec.load();
  } catch (err) {
    return { attempt: failed(hook, names, err) };
  }
  const attached = attachPrograms(object, chosen, req.binaries ?? {});
  const bad = attached.filter((a) => !a.attached);
  if (bad.length > 0 && hook !== '') {
    object.close();
    const first = bad[0] as AttachResult;
    const reason = `attach ${first.program} (${first.section}): ${first.error ?? 'failed'}`;
    return { attempt: { hook, ok: false, programs: names, reason, details: first.log ?? [], attached } };
  }
  return { attempt: { hook, ok: true, programs: names, attached }, object };
}

function failed(hook: string, programs: readonly string[], err: unknown): HookAttempt {
  const details = err instanceof CollectorError ? err.details : [];
  const reason = err instanceof CollectorError ? `${err.message} [${err.code}]` : messageOf(err);
  return { hook, ok: false, programs, reason, details, attached: [] };
}
