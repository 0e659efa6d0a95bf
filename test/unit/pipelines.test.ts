/** Every shipped pipeline validates through the CLI, and print-config's output validates again. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runCli } from '../helpers/agent.ts';

const pipelines = readdirSync(join(repoRoot, 'pipelines'))
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => join('pipelines', f));

describe('shipped pipelines', () => {
  it('there are some', () => assert.ok(pipelines.length > 0));
  // What each shipped pipeline needs from the environment (a DaemonSet gives it from the downward API).
  const required: Record<string, Record<string, string>> = {
    'pipelines/kubernetes.yaml': { K8S_NODE_NAME: 'node-a' },
  };
  for (const f of pipelines) {
    it(`validate --config ${f} exits 0`, () => {
      const r = runCli(['validate', '--config', f], required[f] ?? {});
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /valid/);
    });
  }

  it('pipelines/kubernetes.yaml refuses to start without K8S_NODE_NAME, at the reference (no default node name)', () => {
    const text = readFileSync(join(repoRoot, 'pipelines/kubernetes.yaml'), 'utf8');
    const lines = text.split('\n');
    const line = lines.findIndex((l) => l.includes('${env:K8S_NODE_NAME}'));
    assert.ok(line >= 0, 'pipelines/kubernetes.yaml does not read ${env:K8S_NODE_NAME}');
    const col = (lines[line] as string).indexOf('${env:K8S_NODE_NAME}') + 1;
    const env = { ...process.env };
    delete env['K8S_NODE_NAME'];
    const r = spawnSync(
      process.execPath,
      [join(repoRoot, 'bin/ebpf-collector.js'), 'validate', '--config', 'pipelines/kubernetes.yaml'],
      {
        cwd: repoRoot,
        encoding: 'utf8',
        env,
      },
    );
    assert.equal(r.status, 2, r.stderr);
    assert.equal(
      r.stderr.trim(),
      `pipelines/kubernetes.yaml:${line + 1}:${col}: environment variable K8S_NODE_NAME is not set; set it or give a default: \${env:K8S_NODE_NAME:-value} [ERR_CONFIG_ENV]`,
    );
    // Set but empty (a pod spec with `value: ""`): refused too, at the key.
    const empty = runCli(['validate', '--config', 'pipelines/kubernetes.yaml'], { K8S_NODE_NAME: '' });
    assert.equal(empty.status, 2, empty.stderr);
    assert.match(
      empty.stderr,
      new RegExp(
        `^pipelines/kubernetes.yaml:${line + 1}:\\d+: processors.k8s_attributes.node_name: .*\\[ERR_CONFIG_`,
      ),
    );
  });
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
