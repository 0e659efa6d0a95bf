import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { httpGet, repoRoot, samples, startAgent } from '../helpers/agent.ts';
import { programIdsHeldBy, waitForRelease } from '../helpers/bpf-programs.ts';
import { supportedHooks } from '../helpers/kernel-features.ts';

const PIPELINE = join(repoRoot, 'pipelines', 'default.yaml');

/** Programs with a pipeline of their own instead of a place in the default one. */
const OWN_PIPELINE = ['execsnoop'];

/** The programs of the library, from bpf/README.md's table. */
function libraryPrograms(): string[] {
  const table = readFileSync(join(repoRoot, 'bpf', 'README.md'), 'utf8');
  return [...table.matchAll(/^\| `([a-z0-9-]+)`/gm)]
    .map((m) => m[1] as string)
    .filter((p) => !OWN_PIPELINE.includes(p));
}

test('the default pipeline loads every program of the library: each runs, or is reported skipped with its reason; a healthy start is quiet and ready', async () => {
  const config = parse(readFileSync(PIPELINE, 'utf8')) as {
    receivers: Record<string, { program: string }>;
  };
  const programs = Object.values(config.receivers).map((r) => r.program);
  assert.deepEqual([...programs].sort(), libraryPrograms().sort(), 'default.yaml = the library');
  assert.equal(programs.length, 14);

  const agent = await startAgent([PIPELINE]);
  let ids: string[];
  let held: number[];
  try {
    const body = (await httpGet(agent.port, '/metrics')).body;
    const attached = samples(body, 'ebpf_collector_program_attached');
    const rejected = samples(body, 'ebpf_collector_program_hook_rejected');
    // Fallbacks that went as designed are not outages: no 0 series on a healthy node.
    assert.deepEqual(
      attached.filter((s) => s.value === 0),
      [],
      'no ebpf_collector_program_attached == 0 series',
    );
    assert.ok(
      rejected.every((s) => s.value === 1 && s.labels['reason'] !== '' && s.labels['reason'] !== 'ok'),
      'each rejected hook set is 1 with its reason',
    );
    // A healthy start: no warn or error line; fallbacks are info lines with their reason.
    assert.ok(agent.logs.filter((l) => l.includes('"level":"info"')).length > 10, 'level names in the log');
    const loud = agent.logs.filter((l) => /"level":("(warn|error|fatal)"|[456]0\b)/.test(l));
    assert.deepEqual(loud, [], 'a healthy start logs no warn or error line');
    const fallbacks = agent.logs.filter((l) => l.includes('rejected, falling back'));
    const running = new Set(attached.map((s) => s.labels['config']));
    const fellBack = rejected.filter((s) => running.has(s.labels['config']));
    assert.equal(
      fallbacks.length,
      new Set(fellBack.map((s) => `${s.labels['config']}/${s.labels['hook']}`)).size,
    );
    for (const l of fallbacks) assert.match(l, /"level":"info",.*"reason":"[^"]+"/);
    const ready = await httpGet(agent.port, '/readyz');
    assert.deepEqual([ready.status, ready.body], [200, 'ready\n'], 'ready');
    const enabled = samples(body, 'ebpf_exporter_enabled_configs');
    ids = samples(body, 'ebpf_exporter_ebpf_program_info').map((s) => s.labels['id'] as string);
    assert.ok(ids.length >= 13, `program ids: ${ids.join(', ')}`);
    held = programIdsHeldBy(agent.child.pid as number);
    const heldSet = new Set(held.map(String));
    assert.deepEqual(
      ids.filter((id) => !heldSet.has(id)),
      [],
      'every program id the agent reports is one it holds',
    );
    for (const program of programs) {
      const mine = attached.filter((s) => s.labels['config'] === program);
      const running = mine.filter((s) => s.value === 1);
      const hasPmu = supportedHooks().has('perf_event_hw');
      if (program === 'llcstat' && !hasPmu) {
        // optional: true in default.yaml: skipped with an info line, its rejected set says why.
        assert.deepEqual(mine, [], 'llcstat cannot run without a hardware PMU');
        const why = rejected.filter((s) => s.labels['config'] === program);
        assert.ok(why.length > 0, 'llcstat: its rejected hook set is reported');
        assert.ok(
          why.every((s) => s.labels['reason'] === 'no hardware PMU (virtualised?)'),
          JSON.stringify(why),
        );
        assert.ok(
          agent.logs.some(
            (l) => l.includes('"ebpf/llcstat"') && l.includes('skipped') && l.includes('"level":"info"'),
          ),
          'the skip is logged at info',
        );
        continue;
      }
      assert.ok(mine.length > 0, `${program}: no ebpf_collector_program_attached series`);
      assert.ok(running.length > 0, `${program} runs: ${JSON.stringify(mine)}`);
      const hooks = new Set(running.map((s) => s.labels['hook']));
      assert.equal(hooks.size, 1, `${program}: one hook set attached, got ${[...hooks].join(', ')}`);
      assert.ok(mine.every((s) => s.labels['reason'] !== undefined && s.labels['reason'] !== ''));
      assert.ok(
        enabled.some((s) => s.labels['name'] === program && s.value === 1),
        `${program} enabled`,
      );
    }
    // The start line says which hook every program chose.
    const start = agent.logs.find((l) => l.includes('"agent started"'));
    assert.ok(start, 'start line');
    for (const program of programs) assert.ok(start.includes(`"program":"${program}"`), program);
  } finally {
    assert.equal(await agent.stop('SIGTERM'), 0);
  }
  // Other processes on the machine may run the same programs: check this agent's ids.
  await waitForRelease(held); // SIGTERM released every program
});
