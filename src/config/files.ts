import { X509Certificate } from 'node:crypto';
import {
  close,
  closeSync,
  constants,
  fstat,
  fstatSync,
  open,
  openSync,
  read,
  readSync,
  type Stats,
} from 'node:fs';
import { promisify } from 'node:util';
import { Socket } from 'node:net';
import { CollectorError, describeSystemError } from '../errors.ts';
import { CONFIG_ERROR_CODES as C } from './codes.ts';
import { MAX_CONFIG_BYTES, tooLarge } from './limits.ts';

/**
 * Files a config names — `metrics_file:`, `program:` objects, TLS certificates and keys,
 * web config files, ebpf_exporter's `--config.dir` files — get the main config's limits:
 * regular files only (a FIFO, /dev/zero, a directory or a socket is an error, never a hang
 * or endless memory), opened non-blocking, at most a size cap read. One place for it.
 */

/** Text files a config names (metric definitions, certificates, web config): the main config's cap. */
export const MAX_NAMED_FILE_BYTES = MAX_CONFIG_BYTES;
/** BPF object files (`program:`), which libbpf reads whole; the shipped ones are under 1 MiB. */
export const MAX_OBJECT_BYTES = 64 * 1024 * 1024;

/** Opening flags: never block on a FIFO without a writer, never take a terminal. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;
const openAsync = promisify(open);
const fstatAsync = promisify(fstat);
const readAsync = promisify(read);

/**
 * Why a file a config names cannot be used, or undefined: it must exist, be a regular file
 * and be at most `maxBytes`. For files another reader opens afterwards (libbpf opens
 * `program:` objects and `btf_path:` itself). The sentence follows the file name.
 */
export function namedFileProblem(path: string, maxBytes = MAX_NAMED_FILE_BYTES): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (err) {
    return openProblem(err);
  }
  try {
    return statProblem(fstatSync(fd), maxBytes);
  } catch (err) {
    return `cannot be read: ${describeSystemError(err)}`;
  } finally {
    closeSync(fd);
  }
}

function openProblem(err: unknown): string {
  return `cannot be read: ${describeSystemError(err)}`;
}

/** Why a stat result is not a usable named file, or undefined. */
export function statProblem(st: Stats, maxBytes: number): string | undefined {
  if (st.isDirectory()) return 'is a directory, not a file';
  if (!st.isFile()) return `is not a regular file (${kindOf(st)}); give the path of a file`;
  if (st.size > maxBytes) return `is ${st.size} bytes; at most ${maxBytes} bytes are read`;
  return undefined;
}

/**
 * Read a file a config names, bounded: it must be a regular file (not a device such as
 * /dev/zero, a FIFO or a directory) of at most `maxBytes`. Opened non-blocking so a FIFO
 * cannot hang the caller; never reads more than `maxBytes + 1` bytes, whatever the file
 * claims. Returns the bytes, or why not (a sentence to follow the file name).
 */
export function readNamedFileSync(
  path: string,
  maxBytes = MAX_NAMED_FILE_BYTES,
  /** Read only the first bytes (a magic number); no size error past them. */
  head?: number,
): Buffer | string {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (err) {
    return openProblem(err);
  }
  try {
    const problem = statProblem(fstatSync(fd), head === undefined ? maxBytes : Number.MAX_SAFE_INTEGER);
    if (problem !== undefined) return problem;
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (head !== undefined && total >= head) return Buffer.concat(chunks, total).subarray(0, head);
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

export function kindOf(st: Stats): string {
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

// ---------------------------------------------------------------------------------------
// The main config (`--config FILE`)

/** How long a pipe given as `--config` (`--config <(…)`, a FIFO) may stay silent before the read gives up. */
export const CONFIG_PIPE_TIMEOUT_MS = 5_000;

/**
 * Read a `--config` file with the cap: a regular file, or a pipe (`--config <(…)`, read
 * until its writer closes it, at most CONFIG_PIPE_TIMEOUT_MS of silence). A device, a
 * directory or a socket is an error. Never reads more than one byte past the cap.
 */
export async function readConfigFile(file: string, errors: CollectorError[]): Promise<string | undefined> {
  const fail = (why: string, cause?: unknown): undefined => {
    errors.push(new CollectorError(C.read, `read ${file}: ${why}`, cause === undefined ? {} : { cause }));
    return undefined;
  };
  // A plain descriptor (not a FileHandle): a pipe's is handed to a socket, which closes it.
  let fd: number;
  try {
    fd = await openAsync(file, OPEN_FLAGS);
  } catch (err) {
    return fail(describeSystemError(err), err);
  }
  let st: Stats;
  try {
    st = await fstatAsync(fd);
  } catch (err) {
    close(fd, () => undefined);
    return fail(describeSystemError(err), err);
  }
  if (st.isFIFO()) return readPipe(file, fd, errors);
  try {
    if (st.isDirectory()) return fail('is a directory, not a file');
    if (!st.isFile()) return fail(`is not a regular file (${kindOf(st)}); give the path of a file`);
    if (st.size > MAX_CONFIG_BYTES) {
      errors.push(tooLarge(file, st.size));
      return undefined;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(64 * 1024);
      const { bytesRead } = await readAsync(fd, buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > MAX_CONFIG_BYTES) {
        errors.push(tooLarge(file, total));
        return undefined;
      }
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } catch (err) {
    return fail(describeSystemError(err), err);
  } finally {
    close(fd, () => undefined);
  }
}

/** A pipe, read through the event loop (non-blocking), capped and with an idle timeout. */
function readPipe(file: string, fd: number, errors: CollectorError[]): Promise<string | undefined> {
  return new Promise((done) => {
    // The socket owns the descriptor from here and closes it.
    const sock = new Socket({ fd, readable: true, writable: false });
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const finish = (text: string | undefined, error?: CollectorError): void => {
      if (settled) return;
      settled = true;
      if (error) errors.push(error);
      sock.destroy();
      done(text);
    };
    sock.setTimeout(CONFIG_PIPE_TIMEOUT_MS, () =>
      finish(
        undefined,
        new CollectorError(
          C.read,
          `read ${file}: a pipe that sent nothing for ${CONFIG_PIPE_TIMEOUT_MS / 1000} s (a FIFO without a writer?); give a regular file`,
        ),
      ),
    );
    sock.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
      if (total > MAX_CONFIG_BYTES) finish(undefined, tooLarge(file, total));
    });
    sock.on('end', () => finish(Buffer.concat(chunks, total).toString('utf8')));
    sock.on('error', (err) =>
      finish(
        undefined,
        new CollectorError(C.read, `read ${file}: ${describeSystemError(err)}`, { cause: err }),
      ),
    );
  });
}
