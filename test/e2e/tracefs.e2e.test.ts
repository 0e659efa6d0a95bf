import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers/agent.ts';

test('with tracefs unmounted (a fresh machine), the agent mounts it and attaches tracepoints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tracefs-'));
  const pipeline = join(dir, 'p.yaml');
  writeFileSync(
    pipeline,
    'receivers:\n  ebpf/timers:\n    program: timers\n    hooks: [tracepoint]\nexporters:\n  prometheus: {}\nservice:\n  pipelines:\n    metrics: {receivers: [ebpf/timers], exporters: [prometheus]}\n',
  );
  // A private mount namespace: unmount every tracefs there, then run validate --load, then show the mounts.
  const script = [
    'set -e',
    'for m in $(awk \'$9 == "tracefs" {print $5}\' /proc/self/mountinfo | sort -r); do umount "$m"; done',
    "if awk '$9 == \"tracefs\"' /proc/self/mountinfo | grep -q .; then echo 'still mounted'; exit 3; fi",
    `"${process.execPath}" "${join(repoRoot, 'bin', 'ebpf-collector.js')}" validate --load --config "${pipeline}"`,
    'awk \'$9 == "tracefs" {print "tracefs at " $5}\' /proc/self/mountinfo',
  ].join('\n');
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /valid, every program loaded and attached \(\d+\)/);
  assert.match(r.stdout, /tracefs at \/sys\/kernel\/tracing/);
});
