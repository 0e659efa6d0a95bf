import { closeSync, openSync, readSync, accessSync, constants, fstatSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { AttachResult, BpfObject, ProgramInfo } from '../../native/index.ts';

/**
 * Binaries named by uprobe and USDT sections. ebpf_exporter spells a target
 * as libbpf resolves it: `usdt/python3:python:import__find__load__start`
 * attaches to the first `python3` on $PATH (then /usr/bin:/usr/sbin), with no
 * check that it is an ELF file — on a host with pyenv shims first on PATH
 * that is a shell script. The receiver's `binaries` setting maps a section's
 * target, as written, to the file to attach to, and an attach that fails gets
 * a reason naming the file and what is wrong with it.
 */
export type BinaryMap = Readonly<Record<string, string>>;

/** A parsed `uprobe/`, `uretprobe/` or `usdt/` section. */
export type TargetSection =
  | { readonly kind: 'usdt'; readonly target: string; readonly provider: string; readonly probe: string }
  | { readonly kind: 'uprobe'; readonly target: string; readonly func: string; readonly retprobe: boolean };

/** libbpf's spellings: `usdt/<path>:<provider>:<name>`, `u[ret]probe/<path>:<func>[+<offset>]`. */
export function parseTargetSection(section: string): TargetSection | undefined {
  const usdt = /^usdt\/([^:]+):([^:]+):([^:]+)$/.exec(section);
  if (usdt) {
    return { kind: 'usdt', target: usdt[1] as string, provider: usdt[2] as string, probe: usdt[3] as string };
  }
  const uprobe = /^(uprobe|uretprobe)(?:\.s)?\/([^:]+):([A-Za-z_.$@][\w.$@]*)$/.exec(section);
  if (uprobe) {
    return {
      kind: 'uprobe',
      target: uprobe[2] as string,
      func: uprobe[3] as string,
      retprobe: uprobe[1] === 'uretprobe',
    };
  }
  return undefined;
}

/**
 * The file libbpf 1.1 attaches to for a target without a `/`: the first
 * accessible one on $PATH then /usr/bin:/usr/sbin (shared libraries:
 * $LD_LIBRARY_PATH then /usr/lib64:/usr/lib). Paths are returned as they are.
 */
export function resolveTarget(target: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (target.includes('/')) return target;
  const lib = target.includes('.so');
  const dirs = lib
    ? [...(env['LD_LIBRARY_PATH'] ?? '').split(delimiter), '/usr/lib64', '/usr/lib']
    : [...(env['PATH'] ?? '').split(delimiter), '/usr/bin', '/usr/sbin'];
  for (const dir of dirs.filter((d) => d !== '')) {
    const path = join(dir, target);
    try {
      accessSync(path, lib ? constants.R_OK : constants.X_OK);
      if (statSync(path).isFile()) return path;
    } catch {
      // not here: keep looking
    }
  }
  return undefined;
}

/** The USDT probes (`provider:name`) in an ELF file's .note.stapsdt section, or why there are none. */
export function usdtProbesOf(path: string): { probes: Set<string> } | { problem: string } {
  let fd: number;
  try {
    // Non-blocking: a FIFO named as a binary must not hang the agent.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    return { problem: `cannot open ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  try {
    if (!fstatSync(fd).isFile()) return { problem: `${path} is not a regular file` };
    const read = (offset: number, length: number): Buffer => {
      const buf = Buffer.alloc(length);
      const n = readSync(fd, buf, 0, length, offset);
      return buf.subarray(0, n);
    };
    const header = read(0, 64);
    if (header.length < 16 || header.readUInt32BE(0) !== 0x7f454c46) {
      return { problem: `${path} is not an ELF file (a script or a shim?)` };
    }
    if (header[4] !== 2 || header[5] !== 1 || header.length < 64) {
      return { probes: new Set() }; // not 64-bit little-endian: leave the verdict to libbpf
    }
    const shoff = Number(header.readBigUInt64LE(0x28));
    const shentsize = header.readUInt16LE(0x3a);
    const shnum = header.readUInt16LE(0x3c);
    const shstrndx = header.readUInt16LE(0x3e);
    const sections = read(shoff, shentsize * shnum);
    const section = (i: number): { name: number; offset: number; size: number } => ({
      name: sections.readUInt32LE(i * shentsize),
      offset: Number(sections.readBigUInt64LE(i * shentsize + 0x18)),
      size: Number(sections.readBigUInt64LE(i * shentsize + 0x20)),
    });
    if (sections.length < shentsize * shnum || shstrndx >= shnum) return { probes: new Set() };
    const strtab = section(shstrndx);
    const names = read(strtab.offset, strtab.size);
    for (let i = 0; i < shnum; i++) {
      const s = section(i);
      const end = names.indexOf(0, s.name);
      if (names.toString('latin1', s.name, end < 0 ? undefined : end) !== '.note.stapsdt') continue;
      return { probes: stapsdtProbes(read(s.offset, s.size)) };
    }
    return { problem: `${path} has no USDT notes (.note.stapsdt): built without dtrace/systemtap probes` };
  } finally {
    closeSync(fd);
  }
}

/** Notes: namesz, descsz, type, name (4-aligned), desc: pc, base, semaphore (8 each), provider\0 name\0 args\0. */
function stapsdtProbes(notes: Buffer): Set<string> {
  const probes = new Set<string>();
  const align = (n: number): number => (n + 3) & ~3;
  for (let at = 0; at + 12 <= notes.length;) {
    const namesz = notes.readUInt32LE(at);
    const descsz = notes.readUInt32LE(at + 4);
    const desc = at + 12 + align(namesz);
    if (notes.readUInt32LE(at + 8) === 3 && desc + 24 <= notes.length) {
      const strings = notes.toString('latin1', desc + 24, Math.min(desc + descsz, notes.length)).split('\0');
      probes.add(`${strings[0]}:${strings[1]}`);
    }
    at = desc + align(descsz);
  }
  return probes;
}

/** Why attaching `section` may have failed, in words naming the file, or undefined when nothing is wrong with it. */
export function diagnoseTarget(parsed: TargetSection, binaries: BinaryMap): string | undefined {
  const path = binaries[parsed.target] ?? resolveTarget(parsed.target);
  if (path === undefined) return `${parsed.target} not found on $PATH, /usr/bin or /usr/sbin`;
  if (parsed.kind === 'uprobe') {
    const elf = usdtProbesOf(path);
    return 'problem' in elf && !elf.problem.includes('USDT') ? elf.problem : undefined;
  }
  const elf = usdtProbesOf(path);
  if ('problem' in elf) return elf.problem;
  const probe = `${parsed.provider}:${parsed.probe}`;
  if (elf.probes.size > 0 && !elf.probes.has(probe)) return `${path} has no USDT probe ${probe}`;
  return undefined;
}

/**
 * Attach `programs` of a loaded object by their sections, uprobe and USDT
 * targets through `binaries`; every other program in one object.attach()
 * call, last. Results in program order. Never throws for attach failures.
 */
export function attachPrograms(
  object: BpfObject,
  programs: readonly ProgramInfo[],
  binaries: BinaryMap,
): AttachResult[] {
  const byName = new Map<string, AttachResult>();
  const others: string[] = [];
  for (const p of programs) {
    const parsed = parseTargetSection(p.section);
    if (!parsed) {
      others.push(p.name);
      continue;
    }
    const path = binaries[parsed.target];
    let result: AttachResult;
    if (path === undefined) {
      result = object.attach([p.name])[0] as AttachResult;
    } else if (parsed.kind === 'usdt') {
      result = object.attachUsdt(p.name, path, parsed.provider, parsed.probe);
    } else {
      result = object.attachUprobe(p.name, path, parsed.func, { retprobe: parsed.retprobe });
    }
    if (!result.attached) {
      const why = diagnoseTarget(parsed, binaries);
      if (why) result = { ...result, error: `${why}; ${result.error ?? 'attach failed'}` };
    }
    byName.set(p.name, result);
  }
  if (others.length > 0) for (const r of object.attach(others)) byName.set(r.program, r);
  return programs.flatMap((p) => byName.get(p.name) ?? []);
}
