import { readFileSync } from 'node:fs';

/**
 * /proc/<pid>/mountinfo, one entry per line (proc(5)):
 *
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   (1)(2)(3)   (4)   (5)      (6)      (7...)  (8) (9)   (10)         (11)
 *
 * Zero or more optional fields (7) end at a lone "-". Paths and the source
 * have space, tab, newline and backslash escaped as octal (`\040`, `\011`,
 * `\012`, `\134`); they are unescaped here.
 */
export interface MountInfo {
  readonly mountId: number;
  readonly parentId: number;
  readonly major: number;
  readonly minor: number;
  /** The directory of the filesystem that is the root of this mount. */
  readonly root: string;
  readonly mountPoint: string;
  readonly mountOptions: readonly string[];
  /** "shared:1", "master:2", "propagate_from:3", "unbindable". */
  readonly optionalFields: readonly string[];
  readonly fsType: string;
  readonly source: string;
  readonly superOptions: readonly string[];
}

export function readMountInfo(path = '/proc/self/mountinfo'): MountInfo[] {
  return parseMountInfo(readFileSync(path, 'utf8'));
}

/** Parse mountinfo text; a malformed line throws with its line number. */
export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 10 || sep < 0 || f.length < sep + 4) {
      throw new Error(
        `mountinfo line ${i + 1}: expected "id parent major:minor root mount-point options [optional…] - type source super-options", got ${JSON.stringify(line)}`,
      );
    }
    const dev = /^(\d+):(\d+)$/.exec(f[2] as string);
    if (!dev || !/^\d+$/.test(f[0] as string) || !/^\d+$/.test(f[1] as string)) {
      throw new Error(`mountinfo line ${i + 1}: bad mount id or device in ${JSON.stringify(line)}`);
    }
    out.push({
      mountId: Number(f[0]),
      parentId: Number(f[1]),
      major: Number(dev[1]),
      minor: Number(dev[2]),
      root: unescapeOctal(f[3] as string),
      mountPoint: unescapeOctal(f[4] as string),
      mountOptions: (f[5] as string).split(','),
      optionalFields: f.slice(6, sep),
      fsType: unescapeOctal(f[sep + 1] as string),
      source: unescapeOctal(f[sep + 2] as string),
      // The super options are the rest: they cannot contain a space, but be lenient.
      superOptions: f
        .slice(sep + 3)
        .join(' ')
        .split(','),
    });
  });
  return out;
}

/** `\ooo` (three octal digits) → that byte; the result is read as UTF-8 so escaped non-ASCII names survive. */
export function unescapeOctal(s: string): string {
  if (!s.includes('\\')) return s;
  const bytes: number[] = [];
  const raw = Buffer.from(s, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as number;
    if (
      c === 0x5c &&
      i + 3 < raw.length &&
      isOctal(raw[i + 1]) &&
      isOctal(raw[i + 2]) &&
      isOctal(raw[i + 3])
    ) {
      bytes.push(
        ((raw[i + 1] as number) - 48) * 64 +
          ((raw[i + 2] as number) - 48) * 8 +
          ((raw[i + 3] as number) - 48),
      );
      i += 3;
    } else {
      bytes.push(c);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function isOctal(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x37;
}
