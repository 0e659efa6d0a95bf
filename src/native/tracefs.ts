/**
 * libbpf resolves tracepoint ids through tracefs. libbpf 1.1 looks at
 * /sys/kernel/debug/tracing when that path exists and at /sys/kernel/tracing
 * otherwise, so tracefs must be reachable at one of those two; a fresh
 * machine may have neither mounted.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { CollectorError } from '../errors.ts';

const STANDARD = '/sys/kernel/tracing';
const DEBUGFS_TRACING = '/sys/kernel/debug/tracing';

export interface Mount {
  readonly mountPoint: string;
  readonly fsType: string;
}

/** Mounts from /proc/self/mountinfo (mount points with their \\040-style escapes decoded). */
export function readMounts(text = readFileSync('/proc/self/mountinfo', 'utf8')): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    const mountPoint = fields[4];
    const fsType = fields[dash + 1];
    if (dash < 0 || mountPoint === undefined || fsType === undefined) continue;
    mounts.push({
      mountPoint: mountPoint.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))),
      fsType,
    });
  }
  return mounts;
}

/**
 * Makes sure libbpf can find tracepoints: returns the tracing directory it
 * will use. Mounts tracefs at /sys/kernel/tracing when nothing is there and
 * we are root; otherwise throws ERR_TRACEFS_MISSING with the command to run.
 */
export function ensureTracefs(): string {
  // libbpf 1.1 prefers the debugfs path whenever it exists (an automount of tracefs under debugfs).
  if (existsSync(DEBUGFS_TRACING)) {
    if (existsSync(`${DEBUGFS_TRACING}/events`)) return DEBUGFS_TRACING;
  } else if (existsSync(`${STANDARD}/events`)) {
    return STANDARD;
  }
  const mounted = readMounts().filter((m) => m.fsType === 'tracefs');
  const elsewhere = mounted.map((m) => m.mountPoint).filter((p) => p !== STANDARD && p !== DEBUGFS_TRACING);
  const note =
    elsewhere.length > 0
      ? ` (tracefs is mounted at ${elsewhere.join(', ')}, where libbpf does not look)`
      : '';
  const command = `mount -t tracefs tracefs ${STANDARD}`;
  if (
    !existsSync(DEBUGFS_TRACING) &&
    process.getuid?.() === 0 &&
    !mounted.some((m) => m.mountPoint === STANDARD)
  ) {
    try {
      execFileSync('mount', ['-t', 'tracefs', 'tracefs', STANDARD], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
      throw new CollectorError(
        'ERR_TRACEFS_MISSING',
        `mount tracefs at ${STANDARD}: ${stderr || (err as Error).message}${note}`,
      );
    }
    if (existsSync(`${STANDARD}/events`)) return STANDARD;
  }
  throw new CollectorError(
    'ERR_TRACEFS_MISSING',
    `find tracepoints: tracefs is not mounted where libbpf looks${note}; run \`${command}\` as root`,
  );
}
