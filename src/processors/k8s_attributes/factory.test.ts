import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { CollectorError } from '../../errors.ts';
import { configSchema } from './config.ts';
import { k8sAttributesProcessorFactory } from './factory.ts';
import { K8sAttributesProcessor } from './processor.ts';

const settings = { id: 'k8s_attributes', logger: pino({ level: 'silent' }), configDir: '.' };

test('the node comes from node_name, else K8S_NODE_NAME; without either the config is refused', async () => {
  const saved = process.env['K8S_NODE_NAME'];
  try {
    delete process.env['K8S_NODE_NAME'];
    assert.throws(
      () => k8sAttributesProcessorFactory.create(settings, configSchema.parse({})),
      (err: unknown) =>
        err instanceof CollectorError &&
        err.code === 'ERR_CONFIG_MISSING' &&
        err.path === 'processors.k8s_attributes.node_name',
    );
    process.env['K8S_NODE_NAME'] = 'from-env';
    const a = await k8sAttributesProcessorFactory.create(settings, configSchema.parse({}));
    assert.ok(a instanceof K8sAttributesProcessor);
    assert.equal(a.describe().node, 'from-env');
    const b = await k8sAttributesProcessorFactory.create(settings, configSchema.parse({ node_name: 'n1' }));
    assert.equal(b.describe?.()['node'], 'n1');
    await b.shutdown(); // safe before start
  } finally {
    if (saved === undefined) delete process.env['K8S_NODE_NAME'];
    else process.env['K8S_NODE_NAME'] = saved;
  }
});
