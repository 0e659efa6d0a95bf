import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Component } from './component.ts';
import { agentHealth } from './health.ts';

const plain: Component = { start: async () => {}, shutdown: async () => {} };

test('a component without health() is ready exactly when the agent runs', () => {
  const c = [{ id: 'prometheus', kind: 'exporter' as const, component: plain }];
  assert.equal(agentHealth('starting', c).ready, false);
  assert.deepEqual(agentHealth('running', c), {
    phase: 'running',
    ready: true,
    components: [{ id: 'prometheus', kind: 'exporter', ready: true, problems: [] }],
  });
  assert.equal(agentHealth('stopping', c).ready, false);
});

test('one component not ready makes the agent not ready; problems are kept', () => {
  const sick: Component = {
    ...plain,
    health: () => ({ ready: false, problems: ['program llcstat not attached: no PMU'] }),
  };
  const degraded: Component = {
    ...plain,
    health: () => ({ ready: true, problems: ['send failed: ECONNREFUSED'] }),
  };
  const h = agentHealth('running', [
    { id: 'ebpf/llcstat', kind: 'receiver', component: sick },
    { id: 'otlp', kind: 'exporter', component: degraded },
  ]);
  assert.equal(h.ready, false);
  assert.deepEqual(
    h.components.map((c) => [c.id, c.ready, c.problems]),
    [
      ['ebpf/llcstat', false, ['program llcstat not attached: no PMU']],
      ['otlp', true, ['send failed: ECONNREFUSED']],
    ],
  );
});

test('a health() that throws is a not-ready component, not a failed probe', () => {
  const broken: Component = {
    ...plain,
    health: () => {
      throw new Error('boom');
    },
  };
  const h = agentHealth('running', [{ id: 'ebpf/x', kind: 'receiver', component: broken }]);
  assert.equal(h.ready, false);
  assert.deepEqual(h.components[0]?.problems, ['health check failed: boom']);
});
