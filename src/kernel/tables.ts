import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { macroValue, preprocess } from './headers.ts';

/**
 * Number → name tables (errno, syscalls) generated from the system's Linux
 * uapi headers (Debian package `linux-libc-dev`) into `build/tables/*.json`
 * by `scripts/gen-tables.ts`, never typed by hand. `loadTables()` reads them
 * and, on a fresh clone where they are missing, generates them first.
 */

export type SyscallArch = 'x86_64' | 'arm64';

export interface GeneratedTable {
  /** Headers the table was read from. */
  readonly sources: readonly string[];
  /** `LINUX_VERSION_CODE` of the headers as "major.minor.patch", when known. */
  readonly linuxHeaders: string | undefined;
  /** Decimal number → name. */
  readonly names: Readonly<Record<string, string>>;
}

export interface Tables {
  readonly errno: GeneratedTable;
  readonly syscalls: Readonly<Partial<Record<SyscallArch, GeneratedTable>>>;
}

export interface HeaderPaths {
  /** Root of the headers, `/usr/include` unless testing. */
  readonly include: string;
}

export const defaultTablesDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'tables');

/** Multiarch directories Debian installs arch-specific headers into. */
const multiarchDirs = ['x86_64-linux-gnu', 'aarch64-linux-gnu', ''];

/**
 * arm64 has no unistd_64.h in linux-libc-dev before Linux 6.11: its numbers
 * are asm-generic/unistd.h as selected by arch/arm64/include/uapi/asm/unistd.h,
 * which defines exactly these (Linux 6.1).
 */
const arm64Defines: Readonly<Record<string, string>> = {
  __BITS_PER_LONG: '64',
  __ARCH_WANT_RENAMEAT: '',
  __ARCH_WANT_NEW_STAT: '',
  __ARCH_WANT_SET_GET_RLIMIT: '',
  __ARCH_WANT_TIME32_SYSCALLS: '',
  __ARCH_WANT_SYS_CLONE3: '',
  __ARCH_WANT_MEMFD_SECRET: '',
};

/** Build every table the headers on this machine allow. Throws when the errno headers are missing. */
export function generateTables(paths: HeaderPaths = { include: '/usr/include' }): Tables {
  const version = linuxHeadersVersion(paths.include);
  const errno = generateErrno(paths.include, version);
  const syscalls: Partial<Record<SyscallArch, GeneratedTable>> = {};
  const x86 = firstExisting(
    multiarchDirs
      .map((d) => join(paths.include, d, 'asm', 'unistd_64.h'))
      .filter((p) => !p.includes('aarch64')),
  );
  if (x86) syscalls.x86_64 = generateSyscalls([x86], {}, version);
  const generic = join(paths.include, 'asm-generic', 'unistd.h');
  if (existsSync(generic)) syscalls.arm64 = generateSyscalls([generic], arm64Defines, version);
  return { errno, syscalls };
}

/**
 * Errno names exactly as Go's golang.org/x/sys/unix ErrnoName gives them
 * (ebpf_exporter's errno decoder calls it): its mkerrors.sh collects every E*
 * constant of <errno.h> (kernel asm-generic/errno-base.h + errno.h, plus
 * glibc's bits/errno.h which adds ENOTSUP), sorts them by name, then stably by
 * number and keeps the first name of each number — so 11 is EAGAIN (not
 * EWOULDBLOCK), 35 EDEADLK (not EDEADLOCK), 95 ENOTSUP (not EOPNOTSUPP).
 */
function generateErrno(include: string, version: string | undefined): GeneratedTable {
  const sources = [join(include, 'asm-generic', 'errno-base.h'), join(include, 'asm-generic', 'errno.h')];
  for (const s of sources) {
    if (!existsSync(s)) throw new Error(`${s} is missing: install the Debian package linux-libc-dev`);
  }
  const glibc = firstExisting(multiarchDirs.map((d) => join(include, d, 'bits', 'errno.h')));
  if (glibc) sources.push(glibc);
  const text = sources.map((s) => readFileSync(s, 'utf8')).join('\n');
  const macros = preprocess(text, { _ERRNO_H: '1' });
  const byNumber = new Map<bigint, string[]>();
  for (const name of macros.keys()) {
    if (!/^E[A-Z0-9]+$/.test(name)) continue;
    const n = macroValue(name, macros);
    if (n === undefined || n <= 0n || n >= 4096n) continue;
    const list = byNumber.get(n) ?? [];
    list.push(name);
    byNumber.set(n, list);
  }
  return { sources, linuxHeaders: version, names: sortedNames(byNumber) };
}

/** `__NR_<name>` macros, resolved through `__NR3264_*` aliases; the alphabetically first name wins a shared number. */
function generateSyscalls(
  sources: readonly string[],
  predefined: Readonly<Record<string, string>>,
  version: string | undefined,
): GeneratedTable {
  const macros = preprocess(sources.map((s) => readFileSync(s, 'utf8')).join('\n'), predefined);
  const byNumber = new Map<bigint, string[]>();
  for (const macro of macros.keys()) {
    const m = /^__NR_(\w+)$/.exec(macro);
    // __NR_syscalls is the table size and __NR_arch_specific_syscall a reserved base, not syscalls.
    if (!m || macro === '__NR_syscalls' || macro === '__NR_arch_specific_syscall') continue;
    const n = macroValue(macro, macros);
    if (n === undefined || n < 0n) continue;
    const list = byNumber.get(n) ?? [];
    list.push(m[1] as string);
    byNumber.set(n, list);
  }
  if (byNumber.size === 0) throw new Error(`no __NR_ definitions in ${sources.join(', ')}`);
  return { sources, linuxHeaders: version, names: sortedNames(byNumber) };
}

function sortedNames(byNumber: Map<bigint, string[]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of [...byNumber.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    out[n.toString()] = [...(byNumber.get(n) as string[])].sort()[0] as string;
  }
  return out;
}

function linuxHeadersVersion(include: string): string | undefined {
  try {
    const text = readFileSync(join(include, 'linux', 'version.h'), 'utf8');
    const code = /#define\s+LINUX_VERSION_CODE\s+(\d+)/.exec(text)?.[1];
    if (code === undefined) return undefined;
    const v = Number(code);
    return `${v >> 16}.${(v >> 8) & 0xff}.${v & 0xff}`;
  } catch {
    return undefined;
  }
}

function firstExisting(paths: readonly string[]): string | undefined {
  return paths.find((p) => existsSync(p));
}

const files = { errno: 'errno.json', syscalls: 'syscalls.json' } as const;

/** Write the tables as JSON into `dir` (atomically per file). */
export function writeTables(tables: Tables, dir: string = defaultTablesDir): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  const put = (name: string, value: unknown): void => {
    const path = join(dir, name);
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(value, null, 1)}\n`);
    renameSync(tmp, path);
    written.push(path);
  };
  put(files.errno, tables.errno);
  put(files.syscalls, tables.syscalls);
  return written;
}

export interface LoadOptions {
  readonly dir?: string;
  readonly headers?: HeaderPaths;
}

const loaded = new Map<string, Tables>();

/**
 * The generated tables, read once per directory. When the files are missing
 * they are generated from the headers and written (best effort: a read-only
 * tree still gets the tables in memory). Throws when neither works.
 */
export function loadTables(options: LoadOptions = {}): Tables {
  const dir = options.dir ?? defaultTablesDir;
  const cached = loaded.get(dir);
  if (cached) return cached;
  let tables: Tables;
  const errnoPath = join(dir, files.errno);
  const syscallsPath = join(dir, files.syscalls);
  if (existsSync(errnoPath) && existsSync(syscallsPath)) {
    tables = {
      errno: JSON.parse(readFileSync(errnoPath, 'utf8')) as GeneratedTable,
      syscalls: JSON.parse(readFileSync(syscallsPath, 'utf8')) as Tables['syscalls'],
    };
  } else {
    tables = generateTables(options.headers);
    try {
      writeTables(tables, dir);
    } catch {
      // Read-only install: keep the in-memory tables.
    }
  }
  loaded.set(dir, tables);
  return tables;
}

/** The syscall table name for a Node `process.arch`, or undefined when we have none for it. */
export function syscallArchOf(nodeArch: string): SyscallArch | undefined {
  if (nodeArch === 'x64') return 'x86_64';
  if (nodeArch === 'arm64') return 'arm64';
  return undefined;
}
