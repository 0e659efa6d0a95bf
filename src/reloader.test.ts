import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { CollectorError, CollectorErrors } from './errors.ts';
import { SelfTelemetry } from './pipeline/telemetry.ts';
import { Reloader, RELOAD_SUCCESSFUL, RELOAD_SUCCESS_TIME } from './reloader.ts';
import { until } from '../test/helpers/until.ts';

const logger = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup(opts: { files?: string[]; applyMs?: number; bad?: () => boolean; watch?: boolean } = {}) {
  const telemetry = new SelfTelemetry();
  const applied: number[] = [];
  let active = 0;
  let overlapped = false;
  const reloader = new Reloader<number>({
    logger,
    telemetry,
    debounceMs: 30,
    watch: opts.watch ?? false,
    files: () => opts.files ?? [],
    load: async () => {
      if (opts.bad?.())
        throw new CollectorErrors([new CollectorError('ERR_CONFIG_VALUE', 'bad', { path: 'x' })]);
      return applied.length + 1;
    },
    apply: async (n) => {
      active++;
      overlapped ||= active > 1;
      await sleep(opts.applyMs ?? 0);
      active--;
      applied.push(n);
      return { kept: [], started: [], stopped: [] };
    },
  });
  const value = (name: string) =>
    (telemetry.snapshot().find((f) => f.name === name)?.points[0] as { value?: number } | undefined)?.value;
  return { reloader, applied, value, overlapped: () => overlapped };
}

test('after start the reload gauges say success, with the start time', async () => {
  const { reloader, value } = setup();
  assert.equal(value(RELOAD_SUCCESSFUL), 1);
  assert.ok(Math.abs((value(RELOAD_SUCCESS_TIME) ?? 0) - Date.now() / 1000) < 5);
  await reloader.stop();
});

test('a burst of requests is one reload; one during a reload makes exactly one more, never two at once', async () => {
  const { reloader, applied, overlapped } = setup({ applyMs: 100 });
  for (let i = 0; i < 50; i++) reloader.request('SIGHUP');
  await until(() => reloader.count === 1 && reloader.inProgress !== undefined, 'the first reload under way');
  for (let i = 0; i < 50; i++) reloader.request('SIGHUP');
  await until(() => applied.length === 2, 'two applied');
  await sleep(200);
  assert.equal(applied.length, 2);
  assert.equal(overlapped(), false);
  await reloader.stop();
});

test('a bad config sets the gauge to 0 and keeps the success time; a good one sets 1 again', async () => {
  let bad = true;
  const { reloader, applied, value } = setup({ bad: () => bad });
  const started = value(RELOAD_SUCCESS_TIME);
  reloader.request('SIGHUP');
  await until(() => reloader.count === 1 && reloader.inProgress === undefined, 'the first reload done');
  assert.equal(value(RELOAD_SUCCESSFUL), 0);
  assert.equal(value(RELOAD_SUCCESS_TIME), started);
  assert.equal(applied.length, 0);
  bad = false;
  reloader.request('SIGHUP');
  await until(() => applied.length === 1, 'one applied');
  assert.equal(value(RELOAD_SUCCESSFUL), 1);
  await reloader.stop();
});

test('a watched file replaced by rename reloads; an event that changes no watched content does not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'reloader-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, 'a: 1\n');
  const { reloader, applied } = setup({ files: [file], watch: true });
  writeFileSync(join(dir, 'other.txt'), 'x');
  writeFileSync(file, 'a: 1\n'); // same content
  await sleep(300);
  assert.equal(applied.length, 0);
  writeFileSync(join(dir, '.config.yaml.swp'), 'a: 2\n');
  renameSync(join(dir, '.config.yaml.swp'), file);
  await until(() => applied.length === 1, 'one applied');
  await sleep(300);
  assert.equal(applied.length, 1, 'one change, one reload');
  await reloader.stop();
  writeFileSync(file, 'a: 3\n');
  await sleep(300);
  assert.equal(applied.length, 1, 'no reload after stop');
});

test('stop waits for the reload in progress', async () => {
  const { reloader, applied } = setup({ applyMs: 150 });
  reloader.request('SIGHUP');
  await until(() => reloader.inProgress !== undefined, 'a reload under way');
  await reloader.stop();
  assert.equal(applied.length, 1);
});
