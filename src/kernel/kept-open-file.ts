import { closeSync, openSync, readSync } from 'node:fs';

/**
 * A /proc or /sys file opened once and read again from its start (a pread) at each read: a
 * value read on every poll or scrape costs one system call, not an open, a read and a close.
 */
export class KeptOpenFile {
  readonly path: string;
  private fd: number | undefined;

  constructor(path: string) {
    this.path = path;
  }

  /** Reads up to `buf.length` bytes from offset 0 (the file is opened at the first read); throws as readSync does. */
  read(buf: Buffer): number {
    this.fd ??= openSync(this.path, 'r');
    return readSync(this.fd, buf, 0, buf.length, 0);
  }

  /** Closes the file; the next read opens it again. */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
