import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { httpGet, repoRoot, startAgent } from '../helpers/agent.ts';
import { assertPromtoolAccepts, PROMTOOL } from '../helpers/promtool.ts';

const pipelines = readdirSync(join(repoRoot, 'pipelines')).filter((f) => f.endsWith('.yaml'));

for (const file of pipelines) {
  test(`pipelines/${file}: the running agent's exposition passes promtool check metrics`, async (t) => {
    if (!existsSync(PROMTOOL)) {
      if (process.env['CI'])
        assert.fail('promtool is missing: scripts/setup.sh --test installs Debian prometheus');
      t.skip('promtool not installed');
      return;
    }
    // No Kubernetes API and no OTLP backend here: those parts degrade and count, the rest serves.
    const agent = await startAgent([join(repoRoot, 'pipelines', file)], {
      K8S_NODE_NAME: 'promtool-node',
      OTLP_ENDPOINT: 'http://127.0.0.1:1',
    });
    try {
      await new Promise((r) => setTimeout(r, 500));
      const { status, body } = await httpGet(agent.port, '/metrics');
      assert.equal(status, 200);
      assert.match(body, /^# TYPE ebpf_exporter_/m);
      assertPromtoolAccepts(body);
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });
}
