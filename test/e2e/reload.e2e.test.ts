/**
 * Reload of a live agent process on the real kernel: SIGHUP and changed files.
 *
 * 1. 20 reloads mixing an unchanged config, a changed processor, and a second receiver that
 *    is changed, removed and added again, by SIGHUP and by the file watch alone: /metrics is
 *    scraped between reloads; the unchanged receiver's counters never go down or go missing,
 *    and its programs are the same kernel programs throughout (no reload, no reset).
 * 2. 100 bad configs (the bad-config corpus, syntax errors, unknown keys, deep nesting, YAML
 *    anchor bombs, bad program names, and configs that load programs and then fail) through
 *    one live process's reload path: it never exits, serves after each one with
 *    config_last_reload_successful 0 (1 after each good one in between), the counters go on,
 *    and it holds exactly the programs it held before (a failed reload releases what it
 *    loaded).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet, repoRoot, samples, startAgentWith, type RunningAgent } from '../helpers/agent.ts';
import { programIdsHeldBy, waitForRelease } from '../helpers/bpf-programs.ts';

const RELOAD_BOUND_MS = 30_000;
const OK = 'ebpf_collector_config_last_reload_successful';
const OK_TIME = 'ebpf_collector_config_last_reload_success_timestamp_seconds';
const TIMERS = 'ebpf_exporter_timer_starts_total';

function tmpDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'reload-e2e-'));
  // Relative metrics files of the bad-config corpus resolve from the config's directory.
  symlinkSync(join(repoRoot, 'test', 'configs', 'bad', 'metrics'), join(dir, 'metrics'));
  return dir;
}

/** Replace the file as editors and ConfigMaps do: write aside, rename over. */
function writeConfig(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

interface Variant {
  /** Changes the filter processor's config when it changes. */
  readonly filter: number;
  /** The second receiver: absent, or its poll interval (a change swaps it). */
  readonly cachestat?: string;
  /** Extra YAML for receivers (a config that loads programs and then fails). */
  readonly extraReceiver?: string;
}

function configText(v: Variant): string {
  const receivers = ['ebpf/timers', ...(v.cachestat ? ['ebpf/cachestat'] : [])];
  if (v.extraReceiver) receivers.push('ebpf/broken');
  return `receivers:
  ebpf/timers:
    program: timers
    poll_interval: 15s
${v.cachestat ? `  ebpf/cachestat:\n    program: cachestat\n    poll_interval: ${v.cachestat}\n` : ''}${v.extraReceiver ?? ''}
processors:
  ksym: {}
  filter:
    metrics:
      exclude: [no_such_metric_${v.filter}]

exporters:
  prometheus:
    endpoint: \${env:EBPF_COLLECTOR_LISTEN}

service:
  pipelines:
    metrics:
      receivers: [${receivers.join(', ')}]
      processors: [ksym, filter]
      exporters: [prometheus]
`;
}

/** Outcomes of reloads logged so far. */
function outcomes(agent: RunningAgent): { ok: number; failed: number } {
  let ok = 0;
  let failed = 0;
  for (const line of agent.logs) {
    if (line.includes('"msg":"config reloaded')) ok++;
    else if (line.includes('"msg":"config reload failed')) failed++;
  }
  return { ok, failed };
}

async function waitUntil(what: string, agent: RunningAgent, cond: () => boolean): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (agent.child.exitCode !== null || agent.child.signalCode !== null)
      throw new Error(`agent exited while waiting for ${what}:\n${agent.logs.slice(-30).join('\n')}`);
    if (Date.now() - t0 > RELOAD_BOUND_MS)
      throw new Error(`timed out waiting for ${what}:\n${agent.logs.slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Scrape {
  readonly text: string;
  readonly timers: Map<string, number>;
  gauge(name: string): number | undefined;
  /** Program ids of one config, from ebpf_program_info. */
  programs(config: string): string[];
}

async function scrape(agent: RunningAgent): Promise<Scrape> {
  const r = await httpGet(agent.port, '/metrics');
  assert.equal(r.status, 200, r.body);
  const text = r.body;
  return {
    text,
    timers: new Map(samples(text, TIMERS).map((s) => [s.labels['function'] ?? '', s.value])),
    gauge: (name) => samples(text, name)[0]?.value,
    programs: (config) =>
      samples(text, 'ebpf_exporter_ebpf_program_info')
        .filter((s) => s.labels['config'] === config)
        .map((s) => s.labels['id'] ?? '')
        .sort(),
  };
}

/** Every series of `before` is in `after`, none lower. */
function assertMonotonic(before: Map<string, number>, after: Map<string, number>, step: string): void {
  for (const [fn, v] of before) {
    const w = after.get(fn);
    assert.ok(w !== undefined, `${step}: ${TIMERS}{function="${fn}"} went missing`);
    assert.ok(w >= v, `${step}: ${TIMERS}{function="${fn}"} went down from ${v} to ${w}`);
  }
}

async function startWith(file: string): Promise<RunningAgent> {
  // Receivers are reloaded: the load capabilities must stay (the agent drops them otherwise).
  return startAgentWith(['run', '--config', file, '--capabilities.keep=all'], {}, 60_000);
}

test('20 reloads of a live agent: unchanged receivers keep their programs and counters, no series missing', async () => {
  const dir = tmpDir();
  const file = join(dir, 'agent.yaml');
  let variant: Variant = { filter: 0, cachestat: '15s' };
  writeConfig(file, configText(variant));
  const agent = await startWith(file);
  try {
    let last = await scrape(agent);
    const timersPrograms = last.programs('timers');
    assert.ok(timersPrograms.length > 0, 'no timers program');
    assert.equal(last.gauge(OK), 1);
    const held = new Set(programIdsHeldBy(agent.child.pid as number));
    for (let i = 1; i <= 20; i++) {
      const kind = ['unchanged', 'processor', 'receiver changed', 'receiver removed/added'][i % 4] as string;
      if (kind === 'processor') variant = { ...variant, filter: i };
      if (kind === 'receiver changed')
        variant = { ...variant, cachestat: variant.cachestat === '15s' ? '14s' : '15s' };
      if (kind === 'receiver removed/added')
        variant = variant.cachestat ? { filter: variant.filter } : { ...variant, cachestat: '15s' };
      const byFile = i % 2 === 1 && kind !== 'unchanged'; // an unchanged file makes no event
      const before = outcomes(agent).ok;
      writeConfig(file, configText(variant));
      if (!byFile) process.kill(agent.child.pid as number, 'SIGHUP');
      await waitUntil(`reload ${i} (${kind})`, agent, () => outcomes(agent).ok > before);
      const now = await scrape(agent);
      const step = `reload ${i} (${kind}, ${byFile ? 'file watch' : 'SIGHUP'})`;
      assertMonotonic(last.timers, now.timers, step);
      assert.deepEqual(now.programs('timers'), timersPrograms, `${step}: the timers programs changed`);
      assert.equal(now.gauge(OK), 1, step);
      // A removed receiver's series end at once (the exporter forgets its last batch).
      assert.equal(
        now.programs('cachestat').length > 0,
        variant.cachestat !== undefined,
        `${step}: cachestat programs`,
      );
      if (!variant.cachestat)
        assert.doesNotMatch(now.text, /^ebpf_exporter_page_cache_/m, `${step}: stale series`);
      // Its self-metrics end with it too, and a swapped one's are there (set again after the old one's removal).
      for (const [name, label] of [
        ['ebpf_exporter_enabled_configs', 'name'],
        ['ebpf_collector_program_attached', 'config'],
        ['ebpf_exporter_decoder_errors_total', 'config'],
      ] as const) {
        const has = samples(now.text, name).some((x) => x.labels[label] === 'cachestat');
        assert.equal(has, variant.cachestat !== undefined, `${step}: ${name}{${label}="cachestat"}`);
      }
      for (const id of programIdsHeldBy(agent.child.pid as number)) held.add(id);
      last = now;
    }
    assert.equal(outcomes(agent).failed, 0, agent.logs.join('\n'));
    assert.ok(outcomes(agent).ok >= 20);
    // The process's start line and the reloads: one process, one port all along.
    assert.equal(agent.child.exitCode, null);
    assert.equal(await agent.stop('SIGTERM'), 0, agent.logs.slice(-20).join('\n'));
    await waitForRelease(held);
  } finally {
    if (agent.child.exitCode === null) await agent.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

/** One bad config: its text and whether loading it touches the kernel before failing. */
interface Bad {
  readonly name: string;
  readonly text: string;
  readonly kernel?: boolean;
}

function badConfigs(): Bad[] {
  const corpusDir = join(repoRoot, 'test', 'configs', 'bad');
  const corpus = readdirSync(corpusDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => ({ name: `corpus ${f}`, text: readFileSync(join(corpusDir, f), 'utf8') }))
    .filter((c) => /^# expect:/m.test(c.text)); // warnings-only files may load
  const good = configText({ filter: 0 });
  const generated: Bad[] = [
    // Syntax.
    { name: 'unclosed flow map', text: good.replace('ksym: {}', 'ksym: {') },
    { name: 'unclosed quote', text: good.replace('program: timers', 'program: "timers') },
    { name: 'bad indentation', text: good.replace('    program: timers', '   program: timers') },
    { name: 'tab indentation', text: good.replace('    program: timers', '\tprogram: timers') },
    {
      name: 'duplicate key',
      text: good.replace('    poll_interval: 15s', '    poll_interval: 15s\n    poll_interval: 5s'),
    },
    { name: 'binary garbage', text: '\u0000\u0001\u0002receivers: [\u00ff\u00fe' },
    { name: 'empty file', text: '' },
    { name: 'only a comment', text: '# nothing\n' },
    { name: 'a scalar', text: '42\n' },
    { name: 'two documents', text: `${good}---\n${good}` },
    // Unknown keys.
    { name: 'unknown receiver key', text: good.replace('poll_interval: 15s', 'polll_interval: 15s') },
    { name: 'unknown exporter key', text: good.replace('    endpoint:', '    endpiont:') },
    { name: 'unknown service key', text: good.replace('  pipelines:', '  pipelinez:') },
    {
      name: 'unknown filter key',
      text: good.replace('    metrics:\n      exclude', '    metric:\n      exclude'),
    },
    { name: 'unknown top-level key', text: `${good}extensionz: {}\n` },
    // Deep nesting.
    ...[65, 500, 5_000, 50_000].map((depth) => ({
      name: `flow maps nested ${depth} deep`,
      text: good.replace('ksym: {}', `ksym: ${'{a: '.repeat(depth)}1${'}'.repeat(depth)}`),
    })),
    ...[65, 10_000, 100_000].map((depth) => ({
      name: `lists nested ${depth} deep`,
      text: good.replace('ksym: {}', `ksym: {x: ${'['.repeat(depth)}${']'.repeat(depth)}}`),
    })),
    {
      name: 'block maps nested 200 deep',
      text: `${good}extra:\n${Array.from({ length: 200 }, (_, i) => `${'  '.repeat(i + 1)}k${i}:`).join('\n')} 1\n`,
    },
    // Anchor bombs.
    { name: 'billion laughs', text: `${laughs(9, 9)}${good}` },
    {
      name: 'billion laughs in a receiver',
      text: good.replace('ksym: {}', `ksym: {}\n${indent(laughs(9, 9), 2)}`),
    },
    { name: 'alias fan-out 30x30', text: `${laughs(3, 30)}${good}` },
    { name: 'merge-key bomb', text: `${mergeBomb(12)}${good}` },
    { name: 'unknown alias', text: good.replace('ksym: {}', 'ksym: *nowhere') },
    // Bad program names.
    { name: 'no such program', text: good.replace('program: timers', 'program: no_such_program') },
    { name: 'empty program', text: good.replace('program: timers', 'program: ""') },
    { name: 'program path missing', text: good.replace('program: timers', 'program: /nonexistent/x.bpf.o') },
    {
      name: 'program path traversal',
      text: good.replace('program: timers', 'program: ../../../../etc/passwd'),
    },
    { name: 'program a number', text: good.replace('program: timers', 'program: 42') },
    // Bad values and references.
    { name: 'bad duration', text: good.replace('poll_interval: 15s', 'poll_interval: 15 parsecs') },
    {
      name: 'unknown receiver reference',
      text: good.replace('receivers: [ebpf/timers]', 'receivers: [ebpf/timer]'),
    },
    { name: 'unknown processor type', text: good.replace('ksym: {}', 'ksym: {}\n  frobnicate: {}') },
    { name: 'bad filter regexp', text: good.replace('[no_such_metric_0]', '["/(unclosed/"]') },
    { name: 'bad endpoint', text: good.replace('${env:EBPF_COLLECTOR_LISTEN}', 'localhost:99999') },
    {
      name: 'missing env',
      text: good.replace('${env:EBPF_COLLECTOR_LISTEN}', '${env:RELOAD_TEST_UNSET_VARIABLE}'),
    },
    // Loads and attaches programs, then fails: everything it loaded must be released.
    {
      name: 'definitions that do not fit the object (loads, attaches, fails)',
      kernel: true,
      text: configText({ filter: 0, extraReceiver: brokenReceiver('program: timers') }),
    },
    {
      name: 'a changed receiver beside a broken one (the old one must stay)',
      kernel: true,
      text: configText({ filter: 0, extraReceiver: brokenReceiver('program: timers') }).replace(
        'poll_interval: 15s',
        'poll_interval: 10s',
      ),
    },
    {
      name: 'a program the verifier rejects, strict',
      kernel: true,
      text: configText({
        filter: 0,
        extraReceiver: brokenReceiver(
          `program: ${join(repoRoot, 'build', 'bpf', 'verifier_reject.bpf.o')}\n    strict: true`,
        ),
      }),
    },
  ];
  const all = [...generated, ...corpus];
  // Kernel-touching ones more than once: a leak would add up.
  for (let i = 0; all.length < 100; i++) all.push(generated.filter((g) => g.kernel)[i % 3] as Bad);
  return all.slice(0, 100);
}

function brokenReceiver(program: string): string {
  return `  ebpf/broken:
    ${program}
    metrics:
      counters:
        - name: no_such_map_total
          help: A map the object does not have
          labels:
            - name: function
              size: 8
              decoders:
                - name: ksym
`;
}

function laughs(levels: number, fan: number): string {
  const lines = ['lol0: &lol0 "lol"'];
  for (let i = 1; i < levels; i++)
    lines.push(`lol${i}: &lol${i} [${Array.from({ length: fan }, () => `*lol${i - 1}`).join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

function mergeBomb(levels: number): string {
  const lines = ['m0: &m0 {a: 1, b: 2}'];
  for (let i = 1; i < levels; i++)
    lines.push(`m${i}: &m${i} {<<: [*m${i - 1}, *m${i - 1}], x${i}: [*m${i - 1}, *m${i - 1}]}`);
  return `${lines.join('\n')}\n`;
}

function indent(text: string, n: number): string {
  return text
    .split('\n')
    .map((l) => (l ? ' '.repeat(n) + l : l))
    .join('\n');
}

test('100 bad configs through the reload path of one live process: 0 exits, old pipelines serve, nothing leaked', async (t) => {
  const dir = tmpDir();
  const file = join(dir, 'agent.yaml');
  const good = configText({ filter: 0 });
  writeConfig(file, good);
  const agent = await startWith(file);
  const pid = agent.child.pid as number;
  try {
    let last = await scrape(agent);
    const timersPrograms = last.programs('timers');
    const held = programIdsHeldBy(pid);
    assert.ok(held.length > 0);
    const bads = badConfigs();
    assert.equal(bads.length, 100);
    const passed: string[] = [];
    let goodReloads = 0;
    for (const [i, bad] of bads.entries()) {
      const before = outcomes(agent);
      writeConfig(file, bad.text);
      process.kill(pid, 'SIGHUP');
      if (i % 7 === 0) process.kill(pid, 'SIGHUP'); // a second signal in the same burst
      await waitUntil(`bad config ${i} (${bad.name})`, agent, () => {
        const o = outcomes(agent);
        return o.ok + o.failed > before.ok + before.failed;
      });
      if (outcomes(agent).ok > before.ok) passed.push(bad.name);
      const now = await scrape(agent);
      assert.equal(now.gauge(OK), 0, `after "${bad.name}"`);
      assertMonotonic(last.timers, now.timers, `after "${bad.name}"`);
      assert.deepEqual(
        now.programs('timers'),
        timersPrograms,
        `after "${bad.name}": timers programs changed`,
      );
      if (bad.kernel) await heldExactly(pid, held, bad.name);
      last = now;
      if (i % 10 === 9) {
        // A good config between bad ones: success again (the same config, so nothing changes).
        const okBefore = outcomes(agent).ok;
        const timeBefore = now.gauge(OK_TIME) ?? 0;
        writeConfig(file, good);
        process.kill(pid, 'SIGHUP');
        await waitUntil('a good config', agent, () => outcomes(agent).ok > okBefore);
        const after = await scrape(agent);
        assert.equal(after.gauge(OK), 1, `the good config after "${bad.name}"`);
        assert.ok((after.gauge(OK_TIME) ?? 0) >= timeBefore);
        goodReloads++;
        last = after;
      }
    }
    assert.deepEqual(passed, [], 'bad configs that reloaded');
    assert.equal(goodReloads, 10);
    const codes = new Set(
      agent.logs.flatMap((l) => [...(/"code":"(ERR_[A-Z0-9_]+)"/.exec(l)?.slice(1) ?? [])]),
    );
    t.diagnostic(`error codes logged: ${[...codes].sort().join(' ')}`);
    // The kernel path ran: definitions checked against a loaded object, a program the verifier refused.
    for (const code of ['ERR_EBPF_LAYOUT', 'ERR_EBPF_NO_HOOK', 'ERR_CONFIG_UNKNOWN_KEY', 'ERR_CONFIG_YAML'])
      assert.ok(codes.has(code), `${code} never logged: ${[...codes].join(' ')}`);
    assert.equal(agent.child.exitCode, null, 'the agent exited');
    await heldExactly(pid, held, 'the end');
    assert.equal(await agent.stop('SIGTERM'), 0, agent.logs.slice(-20).join('\n'));
    await waitForRelease(held);
  } finally {
    if (agent.child.exitCode === null) await agent.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The agent holds exactly `held` (polled with a bound: closing is not instantaneous everywhere). */
async function heldExactly(pid: number, held: readonly number[], when: string): Promise<void> {
  const t0 = Date.now();
  let now = programIdsHeldBy(pid);
  while (JSON.stringify(now) !== JSON.stringify(held) && Date.now() - t0 < 2_000) {
    await new Promise((r) => setTimeout(r, 20));
    now = programIdsHeldBy(pid);
  }
  assert.deepEqual(now, held, `${when}: the agent holds other programs than before`);
}

/** The first config has timers only; the second adds these (a reload that loads several objects). */
const ADDED = ['cachestat', 'bpf-jit', 'shrinklat', 'oomkill', 'biolatency'];

function manyText(withAdded: boolean): string {
  const ids = ['timers', ...(withAdded ? ADDED : [])];
  return `receivers:
${ids.map((p) => `  ebpf/${p}:\n    program: ${p}\n`).join('')}
processors:
  ksym: {}

exporters:
  prometheus:
    endpoint: \${env:EBPF_COLLECTOR_LISTEN}

service:
  pipelines:
    metrics:
      receivers: [${ids.map((p) => `ebpf/${p}`).join(', ')}]
      processors: [ksym]
      exporters: [prometheus]
`;
}

test('SIGTERM at points of a reload that loads 5 objects: exit 0, every program released', async (t) => {
  let interrupted = 0;
  for (const delayMs of [0, 20, 60, 150, 300, 600]) {
    const dir = tmpDir();
    const file = join(dir, 'agent.yaml');
    writeConfig(file, manyText(false));
    const agent = await startWith(file);
    const pid = agent.child.pid as number;
    const seen = new Set(programIdsHeldBy(pid));
    try {
      writeConfig(file, manyText(true));
      process.kill(pid, 'SIGHUP');
      await waitUntil('the reload to begin', agent, () =>
        agent.logs.some((l) => l.includes('"msg":"reloading the config"')),
      );
      const t0 = Date.now();
      while (Date.now() - t0 < delayMs) {
        for (const id of programIdsHeldBy(pid)) seen.add(id);
        await new Promise((r) => setTimeout(r, 5));
      }
      const t1 = Date.now();
      process.kill(pid, 'SIGTERM');
      const code = await agent.exited;
      const tookMs = Date.now() - t1;
      assert.equal(code, 0, agent.logs.slice(-20).join('\n'));
      assert.ok(tookMs < 10_000, `exit took ${tookMs} ms`);
      assert.ok(agent.logs.some((l) => l.includes('stopped: every program detached')));
      if (agent.logs.some((l) => l.includes('reload ended by the shutdown'))) interrupted++;
      t.diagnostic(`SIGTERM ${delayMs} ms into the reload: exit 0 in ${tookMs} ms`);
      await waitForRelease(seen);
    } finally {
      if (agent.child.exitCode === null) await agent.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }
  // At least one SIGTERM came while the new receivers were loading (the others before or after).
  assert.ok(interrupted > 0, 'no SIGTERM fell inside the reload');
  t.diagnostic(`${interrupted} of 6 SIGTERMs ended a reload in progress`);
});

test('a SIGHUP during start is held and reloads once the agent has started', async () => {
  const dir = tmpDir();
  const file = join(dir, 'agent.yaml');
  writeConfig(file, manyText(false));
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'bin', 'ebpf-collector.js'), 'run', '--config', file, '--capabilities.keep=all'],
    {
      cwd: repoRoot,
      env: { ...process.env, EBPF_COLLECTOR_LISTEN: '127.0.0.1:0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let log = '';
  child.stderr.on('data', (c: Buffer) => (log += c.toString()));
  child.stdout.on('data', (c: Buffer) => (log += c.toString()));
  const exited = new Promise<number | string>((r) => child.on('exit', (c, s) => r(c ?? s ?? -1)));
  try {
    // After the entry's first line (Node's bootstrap would die of it) and before the start line.
    const t0 = Date.now();
    while (!/"msg":"serving metrics"|"msg":"program timers attached"/.test(log) && Date.now() - t0 < 30_000)
      await new Promise((r) => setTimeout(r, 2));
    process.kill(child.pid as number, 'SIGHUP');
    while (!/"msg":"config reloaded/.test(log) && Date.now() - t0 < 30_000)
      await new Promise((r) => setTimeout(r, 20));
    assert.match(log, /"msg":"agent started"/);
    assert.match(log, /"msg":"config reloaded: \d+ components kept, 0 started, 0 stopped"/);
    assert.equal(child.exitCode, null, log);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, log);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
