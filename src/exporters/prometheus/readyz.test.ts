import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import type { AgentHealth } from '../../pipeline/component.ts';
import { MetricsServer } from './server.ts';
import { httpGetTyped } from '../../../test/helpers/agent.ts';

describe('/readyz and /healthz', () => {
  let health: AgentHealth = { ready: false, phase: 'starting', components: [] };
  const server = new MetricsServer({
    host: '127.0.0.1',
    port: 0,
    metricsPath: '/metrics',
    maxRequests: 4,
    scrape: async () => '',
    ready: () => health.ready,
    health: () => health,
    logger: pino({ level: 'silent' }),
  });
  after(() => server.close());

  it('starting: 503 and the phase; /healthz is 200 all along (liveness, not readiness)', async () => {
    await server.listen();
    const port = server.address.port;
    assert.deepEqual(await httpGetTyped(port, '/readyz'), {
      status: 503,
      type: 'text/plain; charset=utf-8',
      body: 'not ready (starting)\n',
    });
    assert.equal((await httpGetTyped(port, '/healthz')).status, 200);
  });

  it('a required program not attached: 503 naming it; an exporter failing is listed as degraded', async () => {
    const port = server.address.port;
    health = {
      ready: false,
      phase: 'running',
      components: [
        { id: 'ebpf/a', kind: 'receiver', ready: false, problems: ['program a runs on no hook set'] },
        { id: 'otlp', kind: 'exporter', ready: true, problems: ['sends failing: ECONNREFUSED'] },
      ],
    };
    const text = await httpGetTyped(port, '/readyz');
    assert.equal(text.status, 503);
    assert.equal(
      text.body,
      'not ready (running)\nnot ready:\n  receiver ebpf/a: program a runs on no hook set\ndegraded:\n  exporter otlp: sends failing: ECONNREFUSED\n',
    );
    const json = await httpGetTyped(port, '/readyz', { accept: 'application/json' });
    assert.equal(json.status, 503);
    assert.equal(json.type, 'application/json');
    const parsed = JSON.parse(json.body) as {
      status: string;
      components: { id: string; problems: string[] }[];
    };
    assert.equal(parsed.status, 'not ready');
    assert.deepEqual(
      parsed.components.map((c) => [c.id, c.problems]),
      [
        ['ebpf/a', ['program a runs on no hook set']],
        ['otlp', ['sends failing: ECONNREFUSED']],
      ],
    );
    assert.equal((await httpGetTyped(port, '/healthz')).status, 200);
  });

  it('ready: 200, "ready"; a degraded exporter keeps it ready and is listed', async () => {
    const port = server.address.port;
    health = {
      ready: true,
      phase: 'running',
      components: [{ id: 'r', kind: 'receiver', ready: true, problems: [] }],
    };
    assert.deepEqual(await httpGetTyped(port, '/readyz'), {
      status: 200,
      type: 'text/plain; charset=utf-8',
      body: 'ready\n',
    });
    health = {
      ready: true,
      phase: 'running',
      components: [{ id: 'otlp', kind: 'exporter', ready: true, problems: ['sends failing: timeout'] }],
    };
    const r = await httpGetTyped(port, '/readyz');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ready\ndegraded:\n  exporter otlp: sends failing: timeout\n');
  });
});
