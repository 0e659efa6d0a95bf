/** Every shipped pipeline validates through the CLI, and print-config's output validates again. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runCli } from '../helpers/agent.ts';

const pipelines = readdirSync(join(repoRoot, 'pipelines'))
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => join('pipelines', f));

describe('shipped pipelines', () => {
  it('there are some', () => assert.ok(pipelines.length > 0));
  for (const f of pipelines) {
    it(`validate --config ${f} exits 0`, () => {
      const r = runCli(['validate', '--config', f]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /valid/);
    });
  }
});

describe('print-config', () => {
  it('prints the merged, expanded, defaulted config of pipelines/timers.yaml, which validates again', () => {
    const r = runCli(['print-config', '--config', 'pipelines/timers.yaml'], {
      EBPF_COLLECTOR_LISTEN: '127.0.0.1:9555',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ {4}poll_interval: 15s$/m);
    // prometheus defaults, and the endpoint as host:port with the env reference expanded
    assert.match(r.stdout, /^ {4}endpoint: 127\.0\.0\.1:9555$/m);
    assert.match(r.stdout, /^ {4}namespace: ebpf_exporter$/m);
    assert.match(r.stdout, /^ {4}metrics_path: \/metrics$/m);
    assert.match(r.stdout, /^ {4}max_requests: 40$/m);
    assert.match(r.stdout, /^ {4}refresh_interval: 10s$/m);
    assert.doesNotMatch(r.stdout, /\$\{env:/);

    const dir = mkdtempSync(join(tmpdir(), 'print-config-'));
    try {
      const file = join(dir, 'printed.yaml');
      writeFileSync(file, r.stdout);
      const again = runCli(['validate', '--config', file]);
      assert.equal(again.status, 0, `${again.stderr}\n--- printed:\n${r.stdout}`);
      // and printing it again gives the same text (a fixed point)
      assert.equal(runCli(['print-config', '--config', file]).stdout, r.stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('regression: a `$` in a value (a relabel template) is printed as `$$`, so the output loads as the same config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'print-config-'));
    try {
      const file = join(dir, 'relabel.yaml');
      writeFileSync(
        file,
        [
          'receivers: {ebpf/timers: {program: timers}}',
          'processors:',
          '  relabel:',
          '    metric_relabel_configs:',
          "      - {source_labels: [function], regex: '(tcp)_(.*)', target_label: proto, replacement: '$${1}'}",
          'exporters: {prometheus: {}}',
          'service: {pipelines: {metrics: {receivers: [ebpf/timers], processors: [relabel], exporters: [prometheus]}}}',
          '',
        ].join('\n'),
      );
      const r = runCli(['print-config', '--config', file]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /replacement: \$\$\{1\}/);
      const printed = join(dir, 'printed.yaml');
      writeFileSync(printed, r.stdout);
      assert.equal(runCli(['validate', '--config', printed]).status, 0);
      assert.equal(runCli(['print-config', '--config', printed]).stdout, r.stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 on a bad config', () => {
    const r = runCli(['print-config', '--config', 'test/configs/bad/ebpf-poll-interval-number.yaml']);
    assert.equal(r.status, 2);
    assert.match(
      r.stderr,
      /poll_interval: expected a duration like "15s", got 15 \(number\) \[ERR_CONFIG_TYPE\]/,
    );
  });
});
