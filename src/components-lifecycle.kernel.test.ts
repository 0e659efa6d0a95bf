/**
 * One lifecycle test over every registered factory (src/components.ts): each component, created
 * from a minimal config, can be shut down before start, and started then shut down twice — the
 * shape STYLE.md asks of every component. A factory registered without a row here fails the test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { factories } from './components.ts';
import type { Component, Factory } from './pipeline/component.ts';
import { testHost } from '../test/helpers/host.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The smallest valid config of each registered type (ports 0: nothing fixed is held). */
const MINIMAL: Record<'receivers' | 'processors' | 'exporters', Record<string, unknown>> = {
  receivers: { ebpf: { program: 'timers' } },
  processors: {
    ksym: {},
    cgroup: {},
    container: {},
    relabel: {},
    filter: {},
    attributes: { actions: [{ key: 'lifecycle', action: 'insert', value: 'yes' }] },
    // No cluster: an API server that refuses (port 1); the watch retries in the background.
    k8s_attributes: { auth_type: 'none', endpoint: 'http://127.0.0.1:1', node_name: 'lifecycle' },
    resource: { attributes: [{ key: 'lifecycle', action: 'insert', value: 'yes' }] },
  },
  exporters: {
    prometheus: { endpoint: '127.0.0.1:0' },
    otlp: { endpoint: '127.0.0.1:4317', tls: { insecure: true } },
    otlphttp: { endpoint: 'http://127.0.0.1:4318' },
  },
};

for (const kind of ['receivers', 'processors', 'exporters'] as const) {
  for (const [type, factory] of factories[kind] as ReadonlyMap<string, Factory<unknown, Component>>) {
    test(`${kind} ${type}: shutdown without start, start, shutdown twice`, async () => {
      assert.ok(type in MINIMAL[kind], `${kind} ${type} has no minimal config in this test`);
      const config = factory.configSchema.parse(MINIMAL[kind][type]);
      const settings = { id: `${type}/lifecycle`, logger: pino({ level: 'silent' }), configDir: ROOT };
      const unstarted = await factory.create(settings, config);
      await unstarted.shutdown();
      await unstarted.shutdown();
      const c = await factory.create(settings, config);
      try {
        await c.start(testHost());
      } finally {
        await c.shutdown();
        await c.shutdown();
      }
    });
  }
}
