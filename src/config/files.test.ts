import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { CollectorError } from '../errors.ts';
import { namedFileProblem, readConfigFile, readNamedFileSync } from './files.ts';
import { MAX_CONFIG_BYTES } from './limits.ts';

const dir = mkdtempSync(join(tmpdir(), 'ec-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const fifo = join(dir, 'fifo');
execFileSync('mkfifo', [fifo]);
const loop = join(dir, 'loop');
symlinkSync(join(dir, 'loop2'), loop);
symlinkSync(loop, join(dir, 'loop2'));
const small = join(dir, 'small.yaml');
writeFileSync(small, 'a: 1\n');
const big = join(dir, 'big.yaml');
writeFileSync(big, Buffer.alloc(MAX_CONFIG_BYTES + 1, 'a'));

describe('files a config names', () => {
  it('reads a small regular file', () => {
    const data = readNamedFileSync(small);
    assert.ok(Buffer.isBuffer(data));
    assert.equal(data.toString(), 'a: 1\n');
    assert.equal(namedFileProblem(small), undefined);
  });

  it('refuses special files at once, without blocking or reading them', () => {
    const started = Date.now();
    assert.match(String(readNamedFileSync('/dev/zero')), /is not a regular file \(a character device\)/);
    assert.match(String(readNamedFileSync(fifo)), /is not a regular file \(a FIFO\)/);
    assert.match(String(namedFileProblem(fifo)), /a FIFO/);
    assert.match(String(readNamedFileSync(dir)), /is a directory/);
    assert.match(String(readNamedFileSync(loop)), /ELOOP/);
    assert.match(
      String(readNamedFileSync(join(dir, 'nope'))),
      /cannot be read: no such file or directory \(ENOENT\)/,
    );
    assert.match(String(readNamedFileSync(big)), new RegExp(`is ${MAX_CONFIG_BYTES + 1} bytes`));
    assert.ok(Date.now() - started < 2000);
  });

  it('reads only the head when asked', () => {
    const head = readNamedFileSync(big, 16, 4);
    assert.ok(Buffer.isBuffer(head));
    assert.equal(head.length, 4);
  });
});

describe('the main config (--config)', () => {
  const read = async (file: string): Promise<{ text?: string; errors: CollectorError[] }> => {
    const errors: CollectorError[] = [];
    const text = await readConfigFile(file, errors);
    return text === undefined ? { errors } : { text, errors };
  };

  it('refuses devices, directories, loops and oversized files with ERR_CONFIG_READ/TOO_LARGE', async () => {
    for (const [file, re, code] of [
      ['/dev/zero', /character device/, 'ERR_CONFIG_READ'],
      [dir, /is a directory/, 'ERR_CONFIG_READ'],
      [loop, /ELOOP/, 'ERR_CONFIG_READ'],
      [big, /1 MiB/, 'ERR_CONFIG_TOO_LARGE'],
    ] as const) {
      const r = await read(file);
      assert.equal(r.text, undefined, file);
      assert.equal(r.errors[0]?.code, code, file);
      assert.match(r.errors[0]?.message ?? '', re, file);
    }
  });

  it('reads a pipe whose writer closes it', async () => {
    const writer = spawn('sh', ['-c', `printf 'a: 2\\n' > ${fifo}`]);
    const exited = new Promise((done) => writer.on('exit', done));
    const r = await read(fifo);
    assert.deepEqual(r, { text: 'a: 2\n', errors: [] });
    await exited;
  });

  it('gives up on a FIFO nobody writes to, within the timeout', { timeout: 15_000 }, async () => {
    const r = await read(fifo);
    assert.equal(r.text, undefined);
    assert.match(r.errors[0]?.message ?? '', /sent nothing for 5 s/);
  });

  it('caps a pipe that sends too much', async () => {
    const writer = spawn('sh', ['-c', `head -c 3000000 /dev/zero > ${fifo}`]);
    const exited = new Promise((done) => writer.on('exit', done));
    const r = await read(fifo);
    assert.equal(r.errors[0]?.code, 'ERR_CONFIG_TOO_LARGE');
    writer.kill();
    await exited;
  });
});
