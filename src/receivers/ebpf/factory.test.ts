/**
 * The ebpf receiver's factory: the config check resolves the program and parses its metric
 * definitions once, and create takes what it resolved; a config made in code (no check)
 * is resolved by create, its problems under `receivers.<id>`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { CollectorErrors } from '../../errors.ts';
import { configSchema } from './config.ts';
import { checkEbpfReceiverConfig, ebpfReceiverFactory } from './factory.ts';
import type { EbpfReceiver } from './receiver.ts';
import { definitionsDir } from './resolve.ts';

const logger = pino({ level: 'silent' });

async function failureOf(make: () => unknown): Promise<unknown> {
  try {
    await make();
  } catch (err) {
    return err;
  }
  return assert.fail('created');
}

test('create takes the program the config check resolved: the metrics file is read once, at the check', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-factory-'));
  try {
    const file = join(dir, 'timers.yaml');
    copyFileSync(join(definitionsDir(), 'timers.yaml'), file);
    const config = configSchema.parse({ program: 'timers', metrics_file: 'timers.yaml' });
    const errors = checkEbpfReceiverConfig(config, dir, { path: 'receivers.ebpf/t' });
    assert.deepEqual(errors, []);
    // Gone after the check: create does not read it again.
    rmSync(file);
    const r = (await ebpfReceiverFactory.create(
      { id: 'ebpf/t', logger, configDir: dir },
      config,
    )) as EbpfReceiver;
    assert.equal(r.configName, 'timers');
    assert.deepEqual(r.files().slice(1), [file]);
    await r.shutdown();
    // The same config from another directory is resolved again (and fails there).
    await assert.rejects(
      async () => ebpfReceiverFactory.create({ id: 'ebpf/t', logger, configDir: join(dir, 'x') }, config),
      CollectorErrors,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('create without a check: the problems are the check’s, under receivers.<id>, positioned in the metrics file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-factory-'));
  try {
    const missing = configSchema.parse({ program: 'timers', metrics_file: 'nope.yaml' });
    const err = await failureOf(() =>
      ebpfReceiverFactory.create({ id: 'ebpf/t', logger, configDir: dir }, missing),
    );
    assert.ok(err instanceof CollectorErrors);
    assert.equal(err.errors.length, 1);
    assert.equal(err.errors[0]?.code, 'ERR_EBPF_METRICS_FILE');
    assert.equal(err.errors[0]?.path, 'receivers.ebpf/t.metrics_file');
    assert.equal(err.errors[0]?.position, undefined);

    writeFileSync(join(dir, 'bad.yaml'), 'metrics:\n  counters:\n    - nme: x\n');
    const bad = configSchema.parse({ program: 'timers', metrics_file: 'bad.yaml' });
    const inFile = await failureOf(() =>
      ebpfReceiverFactory.create({ id: 'ebpf/t', logger, configDir: dir }, bad),
    );
    assert.ok(inFile instanceof CollectorErrors);
    const checked = checkEbpfReceiverConfig(bad, dir, { path: 'receivers.ebpf/t' });
    // The file's own problems: the same positions and paths as the config check gives.
    assert.deepEqual(
      inFile.errors.map((e) => e.format()),
      checked.map((e) => e.format()),
    );
    assert.ok(inFile.errors.every((e) => e.position?.file.endsWith('bad.yaml')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
