import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet, repoRoot, runCli, samples, startAgentWith } from '../helpers/agent.ts';
import { isOneOf, programIdsHeldBy, programNames, waitForRelease } from '../helpers/bpf-programs.ts';

/** A directory laid out as ebpf_exporter expects: <name>.yaml beside <name>.bpf.o. */
function exporterDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dropin-'));
  copyFileSync(join(repoRoot, 'build', 'bpf', 'timers.bpf.o'), join(dir, 'timers.bpf.o'));
  copyFileSync(join(repoRoot, 'bpf', 'timers.yaml'), join(dir, 'timers.yaml'));
  copyFileSync(join(repoRoot, 'build', 'bpf', 'write_sizes.bpf.o'), join(dir, 'write_sizes.bpf.o'));
  copyFileSync(join(repoRoot, 'test', 'bpf', 'write_sizes.yaml'), join(dir, 'write_sizes.yaml'));
  return dir;
}

test("ebpf_exporter's command line runs unchanged and serves its metric names", async () => {
  const dir = exporterDir();
  const agent = await startAgentWith([
    `--config.dir=${dir}`,
    '--config.names=timers,write_sizes',
    '--web.listen-address=127.0.0.1:0',
  ]);
  let held: number[];
  try {
    const { status, body } = await httpGet(agent.port, '/metrics');
    assert.equal(status, 200);
    assert.ok(samples(body, 'ebpf_exporter_timer_starts_total').length > 0, body);
    const buckets = samples(body, 'ebpf_exporter_write_size_bytes_bucket');
    assert.equal(buckets.length, 22, 'buckets 0..20 and +Inf');
    assert.deepEqual(
      buckets.slice(0, 3).map((b) => b.labels['le']),
      ['1', '2', '4'],
    );
    assert.equal(samples(body, 'ebpf_exporter_write_size_bytes_count').length, 1);
    assert.equal(samples(body, 'ebpf_exporter_write_size_bytes_sum').length, 1);
    // Self-metrics under ebpf_exporter's names.
    assert.deepEqual(
      samples(body, 'ebpf_exporter_enabled_configs')
        .map((s) => s.labels['name'])
        .sort(),
      ['timers', 'write_sizes'],
    );
    assert.deepEqual(
      samples(body, 'ebpf_exporter_decoder_errors_total')
        .map((s) => s.labels['config'])
        .sort(),
      ['timers', 'write_sizes'],
    );
    const info = samples(body, 'ebpf_exporter_ebpf_program_info').find(
      (s) => s.labels['program'] === 'count_write',
    );
    assert.equal(info?.value, 1);
    assert.equal(info.labels['config'], 'write_sizes');
    assert.match(info.labels['tag'] ?? '', /^[0-9a-f]{16}$/);
    assert.match(info.labels['id'] ?? '', /^\d+$/);
    // The collector's own self-metrics, under names ebpf_exporter does not use.
    const capacity = samples(body, 'ebpf_collector_map_capacity').find(
      (s) => s.labels['map'] === 'write_size_bytes',
    );
    assert.equal(capacity?.value, 22);
    const entries = samples(body, 'ebpf_collector_map_entries').find(
      (s) => s.labels['map'] === 'write_size_bytes',
    );
    assert.ok(entries && entries.value > 0 && entries.value <= 22);
    // ebpf_exporter's attachment by id, joined with ebpf_program_info on id.
    const attached = samples(body, 'ebpf_exporter_ebpf_program_attached');
    assert.deepEqual(
      attached.find((s) => s.labels['id'] === info.labels['id']),
      { labels: { id: info.labels['id'] }, value: 1 },
      JSON.stringify(attached),
    );
    const ours = samples(body, 'ebpf_collector_program_attached');
    assert.ok(
      ours.some((s) => s.labels['program'] === 'count_write' && s.labels['reason'] === 'ok' && s.value === 1),
      JSON.stringify(ours),
    );
    // The agent itself holds both programs (others on this machine may run the same ones).
    held = programIdsHeldBy(agent.child.pid as number);
    const names = programNames(held);
    for (const want of [['count_write'], ['tp_btf__timer_start', 'tracepoint__timer_start']])
      assert.ok(
        names.some((n) => isOneOf(n, want)),
        `the agent holds none of ${want.join(', ')}: ${names.join(',')}`,
      );
  } finally {
    assert.equal(await agent.stop(), 0);
  }
  await waitForRelease(held);
});

test('--config.check: exit 0 on good configs, 2 on a broken one', () => {
  const dir = exporterDir();
  const good = runCli([`--config.dir=${dir}`, '--config.names=timers,write_sizes', '--config.check']);
  assert.equal(good.status, 0, good.stderr);
  // A label that does not add up to the map's 8-byte key.
  writeFileSync(
    join(dir, 'write_sizes.yaml'),
    'metrics:\n  histograms:\n    - name: write_size_bytes\n      help: h\n      bucket_type: exp2\n      bucket_min: 0\n      bucket_max: 20\n      labels:\n        - name: bucket\n          size: 4\n          decoders:\n            - name: uint\n',
  );
  const bad = runCli([`--config.dir=${dir}`, '--config.names=write_sizes', '--config.check']);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /label sizes and padding add up to 4 bytes, but the map key is 8 bytes/);
  assert.match(bad.stderr, /\[ERR_EBPF_LAYOUT\]/);
  // A misspelled key in the metrics file is positioned in that file.
  writeFileSync(join(dir, 'write_sizes.yaml'), 'metrics:\n  histogram:\n    - name: x\n');
  const typo = runCli([`--config.dir=${dir}`, '--config.names=write_sizes', '--config.check']);
  assert.equal(typo.status, 2, typo.stderr);
  assert.match(typo.stderr, new RegExp(`write_sizes\\.yaml:2:3: .*histogram.*did you mean "histograms"`));
  // A name with no files says which path it tried.
  const missing = runCli([`--config.dir=${dir}`, '--config.names=nope', '--config.check']);
  assert.equal(missing.status, 2, missing.stderr);
  assert.match(
    missing.stderr,
    /^--config\.dir: config "nope": \S*nope\.yaml and \S*nope\.bpf\.o do not exist \[ERR_CONFIG_READ\]$/m,
  );
});
