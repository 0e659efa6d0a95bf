import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentHealth } from './component.ts';
import { healthJson, healthText, wantsJson } from './health-body.ts';

const healthy: AgentHealth = {
  ready: true,
  phase: 'running',
  components: [
    { id: 'ebpf/timers', kind: 'receiver', ready: true, problems: [], details: { hook: 'tp_btf' } },
  ],
};

const troubled: AgentHealth = {
  ready: false,
  phase: 'running',
  components: [
    { id: 'ebpf/timers', kind: 'receiver', ready: true, problems: [] },
    { id: 'ebpf/llcstat', kind: 'receiver', ready: false, problems: ['program llcstat runs on no hook set'] },
    { id: 'k8s_attributes@metrics', kind: 'processor', ready: false, problems: [] },
    { id: 'otlp', kind: 'exporter', ready: true, problems: ['sends failing since 13:00:00: ECONNREFUSED'] },
  ],
};

test('text: "ready" alone when all is well', () => {
  assert.equal(healthText(healthy), 'ready\n');
});

test('text: what is not ready, then what is degraded, one line each', () => {
  assert.equal(
    healthText(troubled),
    [
      'not ready (running)',
      'not ready:',
      '  receiver ebpf/llcstat: program llcstat runs on no hook set',
      '  processor k8s_attributes@metrics: not ready',
      'degraded:',
      '  exporter otlp: sends failing since 13:00:00: ECONNREFUSED',
      '',
    ].join('\n'),
  );
  assert.match(healthText({ ready: false, phase: 'starting', components: [] }), /^not ready \(starting\)\n$/);
});

test('JSON: status, phase and every component without details', () => {
  const j = healthJson(troubled);
  assert.equal(j.status, 'not ready');
  assert.equal(j.phase, 'running');
  assert.equal(j.components.length, 4);
  assert.deepEqual(healthJson(healthy).components, [
    { id: 'ebpf/timers', kind: 'receiver', ready: true, problems: [] },
  ]);
});

test('Accept: application/json picks JSON', () => {
  assert.equal(wantsJson('application/json'), true);
  assert.equal(wantsJson('text/html, application/json;q=0.9'), true);
  assert.equal(wantsJson('text/plain'), false);
  assert.equal(wantsJson(undefined), false);
});
