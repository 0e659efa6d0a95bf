import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { exportedAt, levelOf, levelTable } from './telemetry-levels.ts';
import { SelfTelemetry } from './telemetry.ts';

const SRC = join(import.meta.dirname, '..');

/** Self-metric names registered with a literal name anywhere in src/ (tests left out). */
function registeredNames(): string[] {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) {
        const text = readFileSync(p, 'utf8');
        for (const m of text.matchAll(/\.(?:counter|gauge)\(\s*'([a-z0-9_]+)'/g)) names.add(m[1] as string);
      }
    }
  };
  walk(SRC);
  return [...names].sort();
}

describe('self-metric levels', () => {
  it('every self-metric registered in src/ has its row (the README table is this one)', () => {
    const listed = levelTable().flatMap(([, names]) => names);
    const missing = registeredNames().filter(
      (n) => !listed.some((l) => (typeof l === 'string' ? l === n : l.test(n))),
    );
    assert.deepEqual(missing, [], 'add them to SELF_METRIC_LEVELS in telemetry-levels.ts and the README');
    assert.ok(registeredNames().length >= 30, 'the scan finds the registrations');
  });

  it('levels include the ones below; none exports nothing', () => {
    assert.equal(levelOf('program_attached'), 'basic');
    assert.equal(levelOf('map_entries'), 'normal');
    assert.equal(levelOf('ebpf_program_run_time_seconds'), 'detailed');
    assert.equal(levelOf('exporter_dropped_spans_total'), 'basic');
    assert.equal(levelOf('dropped_perf_event_map_events_x_total'), 'basic');
    assert.equal(levelOf('a_name_nobody_placed'), 'normal');
    assert.equal(exportedAt('basic', 'basic'), true);
    assert.equal(exportedAt('basic', 'normal'), false);
    assert.equal(exportedAt('normal', 'basic'), true);
    assert.equal(exportedAt('normal', 'detailed'), false);
    assert.equal(exportedAt('detailed', 'detailed'), true);
    assert.equal(exportedAt('none', 'basic'), false);
  });

  it('SelfTelemetry.snapshot returns the families of its level', () => {
    const t = new SelfTelemetry();
    t.gauge('program_attached', 'h').set({ program: 'p' }, 1);
    t.gauge('map_entries', 'h').set({ map: 'm' }, 3);
    t.counter('ebpf_program_run_count_total', 'h').add({ id: '1' }, 5);
    const names = (): string[] => t.snapshot().map((f) => f.name);
    assert.deepEqual(names(), ['program_attached', 'map_entries'], 'default normal');
    t.level = 'basic';
    assert.deepEqual(names(), ['program_attached']);
    t.level = 'detailed';
    assert.deepEqual(names(), ['program_attached', 'map_entries', 'ebpf_program_run_count_total']);
    t.level = 'none';
    assert.deepEqual(names(), []);
    // Updates go on whatever the level: nothing is lost when it is raised again.
    t.gauge('map_entries', 'h').set({ map: 'm' }, 4);
    t.level = 'normal';
    const point = t.snapshot().find((f) => f.name === 'map_entries')?.points[0];
    assert.equal(point && 'value' in point ? point.value : undefined, 4);
  });
});
