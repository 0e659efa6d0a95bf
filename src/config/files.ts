import { X509Certificate } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { describeSystemError } from '../errors.ts';

/** Files a config names (certificates, keys, web config) are small; anything bigger is a mistake. */
export const MAX_NAMED_FILE_BYTES = 1024 * 1024;

/**
 * Read a file a config names, bounded: it must be a regular file (not a device such as
 * /dev/zero, a FIFO or a directory) of at most `maxBytes`. Opened non-blocking so a FIFO
 * cannot hang the caller; never reads more than `maxBytes + 1` bytes, whatever the file
 * claims. Returns the bytes, or why not (a sentence to follow the file name).
 */
export function readNamedFileSync(path: string, maxBytes = MAX_NAMED_FILE_BYTES): Buffer | string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    return `cannot be read: ${describeSystemError(err)}`;
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) return 'is a directory, not a file';
    if (!st.isFile()) return `is not a regular file (${kindOf(st)}); give the path of a file`;
    if (st.size > maxBytes) return `is ${st.size} bytes; at most ${maxBytes} bytes are read`;
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      // A file that grew past the cap while being read.
      if (total > maxBytes) return `is more than ${maxBytes} bytes; at most ${maxBytes} bytes are read`;
    }
    return Buffer.concat(chunks, total);
  } catch (err) {
    return `cannot be read: ${describeSystemError(err)}`;
  } finally {
    closeSync(fd);
  }
}

function kindOf(st: import('node:fs').Stats): string {
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Why a CA bundle a config names is unusable, or undefined (Node ignores junk in `ca` silently). */
export function caBundleProblem(pem: Buffer): string | undefined {
  const blocks = pem.toString('latin1').match(PEM_CERT) ?? [];
  if (blocks.length === 0) return 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)';
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (err) {
      return `certificate ${i + 1} is not valid: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  return undefined;
}
