import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import type { AgentHealth, Host } from '../../pipeline/component.ts';
import { configSchema } from './config.ts';
import { HealthCheckExtension } from './extension.ts';
import { testHost } from '../../../test/helpers/host.ts';
import { httpGetTyped } from '../../../test/helpers/agent.ts';

function rig(extra: Record<string, unknown> = {}): {
  ext: HealthCheckExtension;
  set: (h: AgentHealth) => void;
  host: Host;
} {
  let health: AgentHealth = { ready: false, phase: 'starting', components: [] };
  const logger = pino({ level: 'silent' });
  const host = testHost({ logger, ready: () => health.ready, health: () => health });
  const ext = new HealthCheckExtension(configSchema.parse({ endpoint: '127.0.0.1:0', ...extra }), logger);
  return { ext, set: (h) => (health = h), host };
}

describe('health_check extension', () => {
  const r = rig();
  after(() => r.ext.shutdown());

  it('defaults are the collector’s: 0.0.0.0:13133 and path /', () => {
    const c = configSchema.parse({});
    assert.deepEqual(c.endpoint, { host: '0.0.0.0', port: 13133 });
    assert.equal(c.path, '/');
  });

  it('starting: 503 "Server not available" with upSince and uptime', async () => {
    await r.ext.start(r.host);
    const port = r.ext.address?.port ?? 0;
    const res = await httpGetTyped(port, '/');
    assert.equal(res.status, 503);
    assert.equal(res.type, 'application/json');
    const body = JSON.parse(res.body) as Record<string, unknown>;
    assert.equal(body['status'], 'Server not available');
    assert.equal(body['phase'], 'starting');
    assert.match(String(body['upSince']), /^\d{4}-\d\d-\d\dT/);
    assert.match(String(body['uptime']), /^\d+\.\d{3}s$/);
  });

  it('running and every component ready: 200 "Server available"; degraded ones listed', async () => {
    const port = r.ext.address?.port ?? 0;
    r.set({
      ready: true,
      phase: 'running',
      components: [
        { id: 'ebpf/timers', kind: 'receiver', ready: true, problems: [] },
        { id: 'otlp', kind: 'exporter', ready: true, problems: ['sends failing: ECONNREFUSED'] },
      ],
    });
    const res = await httpGetTyped(port, '/');
    assert.equal(res.status, 200);
    const body = JSON.parse(res.body) as { status: string; components: { id: string }[] };
    assert.equal(body.status, 'Server available');
    assert.deepEqual(
      body.components.map((c) => c.id),
      ['otlp'],
    );
  });

  it('a required program not attached: 503 naming it; other paths 404', async () => {
    const port = r.ext.address?.port ?? 0;
    r.set({
      ready: false,
      phase: 'running',
      components: [{ id: 'ebpf/llcstat', kind: 'receiver', ready: false, problems: ['runs on no hook set'] }],
    });
    const res = await httpGetTyped(port, '/');
    assert.equal(res.status, 503);
    assert.match(res.body, /"status":"Server not available".*"id":"ebpf\/llcstat".*"runs on no hook set"/);
    assert.equal((await httpGetTyped(port, '/metrics')).status, 404);
  });

  it('path and response_body as configured; shutdown closes the port and is safe twice', async () => {
    const c = rig({
      path: '/health/status',
      response_body: { healthy: 'I am OK', unhealthy: 'I am not well' },
    });
    await c.ext.start(c.host);
    const port = c.ext.address?.port ?? 0;
    assert.deepEqual(await httpGetTyped(port, '/health/status'), {
      status: 503,
      type: 'text/plain; charset=utf-8',
      body: 'I am not well',
    });
    c.set({ ready: true, phase: 'running', components: [] });
    assert.equal((await httpGetTyped(port, '/health/status')).body, 'I am OK');
    assert.equal((await httpGetTyped(port, '/')).status, 404);
    await c.ext.shutdown();
    await c.ext.shutdown();
    await assert.rejects(httpGetTyped(port, '/health/status'), /ECONNREFUSED|socket hang up/);
  });
});
