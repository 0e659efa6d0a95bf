/**
 * bpf/usdt: Python module imports by module, from the USDT probe
 * python:import__find__load__start. The test runs `python3.11 -c 'import json,
 * csv'` itself and reads the counters through the real ebpf receiver: each
 * module is loaded once, so each counts exactly 1.
 *
 * Also the target's configurability: the receiver's `binaries` setting, and
 * ebpf_exporter's own spelling `usdt/python3:…` (test/bpf/usdt_bare.bpf.c),
 * which libbpf resolves through $PATH; when that finds a shell script (a pyenv
 * shim) or a binary without the probe, the reason names the file and what is
 * wrong with it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { assemble } from '../../src/pipeline/assemble.ts';
import type { MetricBatch, ScalarPoint } from '../../src/pipeline/data.ts';
import { configSchema } from '../../src/receivers/ebpf/config.ts';
import { ebpfReceiverFactory } from '../../src/receivers/ebpf/factory.ts';
import type { EbpfReceiver } from '../../src/receivers/ebpf/receiver.ts';
import { repoRoot } from '../helpers/agent.ts';
import { expectedHook } from '../helpers/kernel-features.ts';
import { testHost } from '../helpers/host.ts';

const logger = pino({ level: 'silent' });
const host = testHost();
const PYTHON = '/usr/bin/python3.11';
/** Targets without the probe, of this machine's architecture, taken from the running process. */
const NODE = realpathSync(process.execPath); // no USDT notes at all (npm's Node builds have none)
const LIBSTDCXX = mappedFile(/\/libstdc\+\+\.so\.6(\.[\d.]+)?$/); // USDT notes (libstdcxx:throw, catch), none of python's
const METRIC = 'python_module_imports_total';
const skip = existsSync(PYTHON) ? false : `${PYTHON} is not installed`;

/** The file behind one of this process's mappings (/proc/self/maps), e.g. a shared library Node links. */
function mappedFile(name: RegExp): string {
  const paths = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .map((line) => line.split(/\s+/).slice(5).join(' '));
  const found = paths.find((p) => name.test(p));
  if (found === undefined) throw new Error(`no mapping of this process matches ${String(name)}`);
  return found;
}

async function receiverFor(config: Record<string, unknown>): Promise<EbpfReceiver> {
  return (await ebpfReceiverFactory.create(
    { id: 'ebpf/usdt', logger, configDir: repoRoot },
    configSchema.parse({ program: 'usdt', poll_interval: '1h', ...config }),
  )) as EbpfReceiver;
}

/**
 * Spawn `python -c 'import json, csv'` blocked on stdin, start a receiver
 * counting only that process (`filter_tgid`), release it: the per-module deltas.
 */
async function importsCounted(
  config: Record<string, unknown>,
  python = PYTHON,
): Promise<{ receiver: EbpfReceiver; delta: Map<string, number> }> {
  const child = spawn(python, ['-c', 'import sys; sys.stdin.read(1); import json, csv'], {
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const receiver = await receiverFor({ ...config, globals: { filter_tgid: child.pid } });
  let last: MetricBatch | undefined;
  const sub = receiver.output$.subscribe((b) => (last = b));
  const values = async (): Promise<Map<string, number>> => {
    await receiver.collectNow();
    const family = assemble(last?.families ?? []).find((f) => f.name === METRIC);
    return new Map(
      ((family?.points ?? []) as ScalarPoint[]).map((p) => [p.labels['module'] as string, p.value]),
    );
  };
  try {
    await receiver.start(host);
    const before = await values();
    child.stdin.end('x');
    assert.equal(await exited, 0);
    const after = await values();
    return { receiver, delta: new Map([...after].map(([m, v]) => [m, v - (before.get(m) ?? 0)])) };
  } catch (err) {
    await receiver.shutdown();
    throw err;
  } finally {
    child.kill('SIGKILL');
    sub.unsubscribe();
  }
}

test('usdt: python3.11 -c "import json, csv" counts json +1 and csv +1', { skip }, async () => {
  const { receiver, delta } = await importsCounted({});
  try {
    assert.equal(receiver.hook, expectedHook(['usdt']));
    assert.equal(delta.get('json'), 1, JSON.stringify([...delta]));
    assert.equal(delta.get('csv'), 1, JSON.stringify([...delta]));
    assert.ok(
      [...delta.values()].every((d) => d >= 0),
      'a counter went backwards',
    );
  } finally {
    await receiver.shutdown();
  }
});

test('usdt: binaries maps the section target to another file (the python3 symlink)', { skip }, async () => {
  const { receiver, delta } = await importsCounted(
    { binaries: { [PYTHON]: '/usr/bin/python3' } },
    '/usr/bin/python3',
  );
  try {
    assert.equal(receiver.hook, 'usdt');
    assert.equal(delta.get('json'), 1);
    assert.equal(delta.get('csv'), 1);
  } finally {
    await receiver.shutdown();
  }
});

for (const [target, why] of [
  [NODE, `${NODE} has no USDT notes (.note.stapsdt)`],
  [LIBSTDCXX, `${LIBSTDCXX} has no USDT probe python:import__find__load__start`],
] as const) {
  test(`usdt: a target without the probe (${target}) is skipped with a reason naming the file`, async () => {
    const receiver = await receiverFor({ binaries: { [PYTHON]: target } });
    try {
      await receiver.start(host);
      assert.equal(receiver.hook, undefined);
      const [attempt] = receiver.attempts;
      assert.equal(attempt?.ok, false);
      assert.ok(attempt?.reason?.includes(why), attempt?.reason);
      const skipped = (receiver.describe()['skipped'] as string[]).join('\n');
      assert.ok(skipped.includes(why), skipped);
    } finally {
      await receiver.shutdown();
    }
  });
}

test("usdt: ebpf_exporter's spelling usdt/python3:… names the shim $PATH resolves to, and works once mapped", async () => {
  const object = join(repoRoot, 'build', 'bpf', 'usdt_bare.bpf.o');
  const metrics = join(repoRoot, 'bpf', 'usdt.yaml');
  // A pyenv-style shim first on $PATH: libbpf takes it without checking it is ELF.
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-usdt-shim-'));
  const shim = join(dir, 'python3');
  writeFileSync(shim, '#!/bin/sh\nexec /usr/bin/python3.11 "$@"\n');
  chmodSync(shim, 0o755);
  const savedPath = process.env['PATH'];
  process.env['PATH'] = `${dir}:${savedPath ?? ''}`;
  try {
    const shimmed = await receiverFor({ program: object, metrics_file: metrics });
    try {
      await shimmed.start(host);
      const result = shimmed.attempts[0]?.attached[0];
      assert.equal(result?.attached, false);
      assert.ok(result?.error?.includes(`${shim} is not an ELF file`), result?.error);
    } finally {
      await shimmed.shutdown();
    }
    if (skip) return;
    const { receiver: mapped, delta } = await importsCounted({
      program: object,
      metrics_file: metrics,
      binaries: { python3: PYTHON },
    });
    try {
      assert.equal(mapped.attempts[0]?.attached[0]?.attached, true);
      assert.equal(delta.get('json'), 1);
      assert.equal(delta.get('csv'), 1);
    } finally {
      await mapped.shutdown();
    }
    // Where `python3` on $PATH is Debian's interpreter, the spelling works unmapped, as in ebpf_exporter.
    process.env['PATH'] = '/usr/bin:/bin';
    const { receiver: plain, delta: plainDelta } = await importsCounted({
      program: object,
      metrics_file: metrics,
    });
    try {
      assert.equal(plain.attempts[0]?.attached[0]?.attached, true, plain.attempts[0]?.attached[0]?.error);
      assert.equal(plainDelta.get('json'), 1);
    } finally {
      await plain.shutdown();
    }
  } finally {
    process.env['PATH'] = savedPath;
    rmSync(dir, { recursive: true, force: true });
  }
});
