/**
 * Drop-in mode as a new ebpf_exporter user meets it: every shipped program through
 * ebpf_exporter's command line with `--config.dir=build/bpf` (the build puts each
 * bpf/<name>.yaml beside its <name>.bpf.o there), and the scrape read as ebpf_exporter would
 * have written it:
 * its self-metric families exactly (names, types, label names, help), each config's metrics
 * under its names, types, label names and help, every number in the Go client's form, every
 * decoder fallback in upstream's form, and promtool accepting the whole text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { goFloat } from '../../src/exporters/prometheus/float.ts';
import { httpGet, repoRoot, startAgentWith } from '../helpers/agent.ts';
import { PYTHON } from '../helpers/program-run.ts';
import { assertPromtoolAccepts } from '../helpers/promtool.ts';

/**
 * ebpf_exporter's self-metrics (v2.5: exporter/exporter.go, and main.go's client_golang
 * version collector; /work/shared/reference/ebpf_exporter.md section 3.2). The run
 * statistics exist only while kernel.bpf_stats_enabled=1, as there.
 */
const UPSTREAM_SELF: Record<string, { type: string; labels: string[]; help: string; bpfStatsOnly?: true }> = {
  ebpf_exporter_enabled_configs: { type: 'gauge', labels: ['name'], help: 'The set of enabled configs' },
  ebpf_exporter_ebpf_program_info: {
    type: 'gauge',
    labels: ['config', 'id', 'program', 'tag'],
    help: 'Info about ebpf programs',
  },
  ebpf_exporter_ebpf_program_attached: {
    type: 'gauge',
    labels: ['id'],
    help: 'Whether a program is attached',
  },
  ebpf_exporter_ebpf_program_run_time_seconds: {
    type: 'counter',
    labels: ['id'],
    help: 'How long has the program been executing',
    bpfStatsOnly: true,
  },
  ebpf_exporter_ebpf_program_run_count_total: {
    type: 'counter',
    labels: ['id'],
    help: 'How many times has the program been executed',
    bpfStatsOnly: true,
  },
  ebpf_exporter_decoder_errors_total: {
    type: 'counter',
    labels: ['config'],
    help: 'How many times has decoders encountered errors',
  },
  ebpf_exporter_build_info: {
    type: 'gauge',
    labels: ['branch', 'goarch', 'goos', 'goversion', 'revision', 'tags', 'version'],
    help: "A metric with a constant '1' value labeled by version, revision, branch, goversion from which ebpf_exporter was built, and the goos and goarch for the build.",
  },
};

/** Decoder fallbacks as ebpf_exporter writes them (decoder/*.go). */
const UNKNOWN_FORMS = [
  /^unknown_addr:0x(0|[1-9a-f][0-9a-f]*)$/, // ksym: %x, unpadded
  /^unknown_cgroup_id:-?\d+$/, // cgroup
  /^unknown_syscall:\d+$/, // syscall
  /^unknown:-?\d+$/, // errno, ifname
  /^unknown:\d+:\d+$/, // majorminor
  /^unknown:/, // static_map without allow_unknown: unknown:<input>
  /^unknown pci (vendor|device|class): 0x[0-9a-f]+$/,
  /^unknown pci subclass: 0x[0-9a-f]+ \(class 0x[0-9a-f]+\)$/,
];

interface Family {
  type?: string;
  help?: string;
  labelSets: string[][];
}

/** HELP, TYPE and the label names of every series, by family (histogram series folded in). */
function families(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  const get = (name: string): Family => {
    let f = out.get(name);
    if (!f) out.set(name, (f = { labelSets: [] }));
    return f;
  };
  let histogram = '';
  for (const line of text.split('\n')) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const f = get(meta[2] as string);
      if (meta[1] === 'HELP') f.help = meta[3];
      else {
        f.type = meta[3];
        histogram = meta[3] === 'histogram' ? (meta[2] as string) : '';
      }
      continue;
    }
    if (line === '') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    assert.ok(m, `sample line: ${line}`);
    let name = m[1] as string;
    if (histogram && [`${histogram}_bucket`, `${histogram}_sum`, `${histogram}_count`].includes(name))
      name = histogram;
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="(?:[^"\\]|\\.)*"/g)]
      .map((l) => l[1] as string)
      .filter((l) => l !== 'le');
    get(name).labelSets.push(labels);
  }
  return out;
}

interface ConfigMetric {
  name: string;
  help: string;
  kind: string;
  labels: string[];
}

function configMetrics(file: string): ConfigMetric[] {
  const doc = parse(readFileSync(file, 'utf8')) as {
    metrics?: Record<string, { name: string; help: string; labels?: { name: string }[] }[]>;
  };
  const out: ConfigMetric[] = [];
  for (const [section, kind] of [
    ['counters', 'counter'],
    ['gauges', 'gauge'],
    ['histograms', 'histogram'],
  ] as const) {
    for (const m of doc.metrics?.[section] ?? []) {
      const labels = (m.labels ?? []).map((l) => l.name);
      out.push({
        name: m.name,
        help: m.help,
        kind,
        labels: kind === 'histogram' ? labels.slice(0, -1) : labels,
      });
    }
  }
  return out;
}

test('drop-in with every shipped program: a scrape reads as ebpf_exporter would write it', async () => {
  const dir = join(repoRoot, 'build', 'bpf');
  const names = readdirSync(join(repoRoot, 'bpf'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
  assert.ok(names.length >= 14, `shipped programs: ${names.join(', ')}`);
  for (const n of names) {
    for (const file of [`${n}.bpf.o`, `${n}.yaml`])
      assert.ok(existsSync(join(dir, file)), `build/bpf/${file} is missing: make -C bpf puts it there`);
    assert.equal(
      readFileSync(join(dir, `${n}.yaml`), 'utf8'),
      readFileSync(join(repoRoot, 'bpf', `${n}.yaml`), 'utf8'),
      `build/bpf/${n}.yaml is bpf/${n}.yaml (rebuild: make -C bpf)`,
    );
  }
  const agent = await startAgentWith(
    [`--config.dir=${dir}`, `--config.names=${names.join(',')}`, '--web.listen-address=127.0.0.1:0'],
    {},
    90_000,
  );
  let body: string;
  try {
    // Block I/O for biolatency (its µs buckets are the le form at stake): a synced write to disk.
    const file = join(repoRoot, 'build', `dropin-fidelity-${process.pid}.tmp`);
    const fd = openSync(file, 'w');
    writeSync(fd, Buffer.alloc(64 * 1024, 1));
    fsyncSync(fd);
    closeSync(fd);
    rmSync(file);
    await httpGet(agent.port, '/metrics'); // a first scrape, so that the scrape counters have series
    const r = await httpGet(agent.port, '/metrics');
    assert.equal(r.status, 200);
    body = r.body;
  } finally {
    assert.equal(await agent.stop(), 0);
  }
  const fams = families(body);

  // Each config's metrics: ebpf_exporter_<name>, its type, its help, all its label names.
  const configFamilies = new Set<string>();
  for (const n of names) {
    for (const m of configMetrics(join(repoRoot, 'bpf', `${n}.yaml`))) {
      const name = `ebpf_exporter_${m.name}`;
      configFamilies.add(name);
      const f = fams.get(name);
      if (!f) continue; // nothing recorded yet (or its program cannot run here): not written, as upstream
      assert.equal(f.type, m.kind, `${name} type`);
      assert.equal(f.help, m.help, `${name} help`);
      for (const labels of f.labelSets) assert.deepEqual(labels, m.labels, `${name} label names`);
    }
  }
  assert.ok(fams.has('ebpf_exporter_timer_starts_total'), 'timers serves');

  // Self-metrics: ebpf_exporter's, exactly; everything else under names it does not use.
  const statsOn = readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim() === '1';
  const selfNames = [...fams.keys()].filter((n) => n.startsWith('ebpf_exporter_') && !configFamilies.has(n));
  assert.deepEqual(
    selfNames.sort(),
    Object.keys(UPSTREAM_SELF)
      .filter((n) => statsOn || !UPSTREAM_SELF[n]?.bpfStatsOnly)
      .sort(),
  );
  for (const name of selfNames) {
    const want = UPSTREAM_SELF[name];
    const f = fams.get(name);
    assert.ok(want && f);
    assert.equal(f.type, want.type, `${name} type`);
    assert.equal(f.help, want.help, `${name} help`);
    assert.ok(f.labelSets.length > 0, `${name} has series`);
    for (const labels of f.labelSets)
      assert.deepEqual([...labels].sort(), want.labels, `${name} label names`);
  }
  for (const name of fams.keys()) {
    if (name.startsWith('ebpf_exporter_')) continue;
    assert.match(name, /^(ebpf_collector_|process_|nodejs_|dropped_perf_event_map_events_)/, name);
  }
  // ebpf_program_attached joins ebpf_program_info on id.
  const ids = (metric: string): string[] =>
    [...body.matchAll(new RegExp(`^${metric}\\{[^}]*\\bid="(\\d+)"`, 'gm'))]
      .map((m) => m[1] as string)
      .sort();
  assert.deepEqual(ids('ebpf_exporter_ebpf_program_attached'), ids('ebpf_exporter_ebpf_program_info'));
  assert.ok(ids('ebpf_exporter_ebpf_program_info').length >= names.length, 'program ids');

  // Numbers as the Go client writes them; decoder fallbacks as upstream's decoders write them.
  const number = (t: string): number => (t === '+Inf' ? Infinity : t === '-Inf' ? -Infinity : Number(t));
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const value = line.slice(line.lastIndexOf(' ') + 1);
    assert.equal(goFloat(number(value)), value, `value of ${line}`);
    const le = /[{,]le="([^"]+)"\}/.exec(line);
    if (le) assert.equal(goFloat(number(le[1] as string)), le[1], `le of ${line}`);
    if (line.startsWith('ebpf_exporter_build_info{')) continue; // revision="unknown", tags="unknown": Go's defaults
    for (const v of line.matchAll(/="(unknown[^"]*)"/g))
      assert.ok(
        UNKNOWN_FORMS.some((re) => re.test(v[1] as string)),
        `fallback ${v[1]} is not one of ebpf_exporter's forms`,
      );
  }
  assert.match(body, /le="1\.6e-05"/, 'µs histograms (biolatency) have Go-form bounds');

  assertPromtoolAccepts(body);
});

test('drop-in: a counter named without _total keeps its name, as ebpf_exporter writes it', async () => {
  // ebpf_exporter's bpf-jit example names a counter bpf_jit_pages_currently_allocated; here a
  // test object's getpid counter map `counts` (u32 tgid key) stands in for one.
  const dir = mkdtempSync(join(tmpdir(), 'dropin-counts-'));
  copyFileSync(join(repoRoot, 'build', 'bpf', 'addon_test.bpf.o'), join(dir, 'counts.bpf.o'));
  writeFileSync(
    join(dir, 'counts.yaml'),
    'metrics:\n  counters:\n    - name: counts\n      help: getpid calls by tgid\n      labels:\n        - name: tgid\n          size: 4\n          decoders:\n            - name: uint\n',
  );
  const agent = await startAgentWith(
    [`--config.dir=${dir}`, '--config.names=counts', '--web.listen-address=127.0.0.1:0'],
    {},
    60_000,
  );
  try {
    const child = spawnSync(PYTHON, ['-c', 'import os\nprint(os.getpid())\nfor _ in range(7): os.getpid()'], {
      encoding: 'utf8',
    });
    assert.equal(child.status, 0, child.stderr);
    const pid = child.stdout.trim();
    const { body } = await httpGet(agent.port, '/metrics');
    assert.match(body, /^# TYPE ebpf_exporter_counts counter$/m);
    // Python's own start-up calls getpid too: at least the 7 (+1 print) of the script.
    const line = new RegExp(`^ebpf_exporter_counts\\{tgid="${pid}"\\} (\\d+)$`, 'm').exec(body);
    assert.ok(line && Number(line[1]) >= 8, body);
    assert.doesNotMatch(body, /ebpf_exporter_counts_total/);
  } finally {
    assert.equal(await agent.stop(), 0);
    rmSync(dir, { recursive: true, force: true });
  }
});
