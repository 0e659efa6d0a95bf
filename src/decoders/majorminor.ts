import { readFileSync } from 'node:fs';
import { DecodeError, type Decoder } from './decoder.ts';

export interface MajorMinorOptions {
  readonly partitionsPath?: string;
}

/** major and minor of a kernel `new_encode_dev` value (Go's unix.Major/unix.Minor on it). */
export function decodeDev(dev: number): { major: number; minor: number } {
  return { major: (dev & 0xfff00) >>> 8, minor: ((dev & 0xff) | ((dev >>> 12) & 0xfff00)) >>> 0 };
}

/**
 * `majorminor`: a u32 kernel dev_t as `new_encode_dev` packs it → the device
 * name in /proc/partitions ("sda2"); `unknown:<major>:<minor>` when it is not
 * listed. Known names are cached for good, unknown ones are not (a disk may
 * appear later), as in ebpf_exporter (decoder/majorminor.go). Like it, an
 * 8-byte label reads its first 4 bytes. A /proc/partitions that cannot be
 * read is a DecodeError.
 */
export function majorMinorDecoder(options: MajorMinorOptions = {}): Decoder {
  const path = options.partitionsPath ?? '/proc/partitions';
  const cache = new Map<number, string>();
  return {
    name: 'majorminor',
    decode(input) {
      if (typeof input === 'string')
        throw new DecodeError('majorminor', 'expects a raw 4-byte dev; put it first in the chain');
      if (input.length !== 4 && input.length !== 8) {
        throw new DecodeError(
          'majorminor',
          `expects a 4-byte dev (or 8 bytes, low half used), got ${input.length} bytes`,
        );
      }
      const dev = new DataView(input.buffer, input.byteOffset, 4).getUint32(0, true);
      const hit = cache.get(dev);
      if (hit !== undefined) return hit;
      const { major, minor } = decodeDev(dev);
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        throw new DecodeError('majorminor', `read ${path}: ${(err as Error).message}`);
      }
      const name = findPartition(text, major, minor);
      if (name === undefined) return `unknown:${major}:${minor}`;
      cache.set(dev, name);
      return name;
    },
  };
}

/** The name column of the /proc/partitions row `major minor #blocks name`. */
export function findPartition(text: string, major: number, minor: number): string | undefined {
  const maj = String(major);
  const min = String(minor);
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length === 4 && f[0] === maj && f[1] === min) return f[3];
  }
  return undefined;
}
