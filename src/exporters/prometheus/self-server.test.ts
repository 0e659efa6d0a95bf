import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Subject } from 'rxjs';
import type { MetricBatch } from '../../pipeline/data.ts';
import { SelfTelemetry } from '../../pipeline/telemetry.ts';
import { assertPromtoolAccepts } from '../../../test/helpers/promtool.ts';
import { configSchema } from './config.ts';
import { PrometheusMetricsExporter } from './exporter.ts';
import { SelfMetricsServer } from './self-server.ts';
import { testHost } from '../../../test/helpers/host.ts';
import { httpGet } from '../../../test/helpers/agent.ts';

function telemetry(): SelfTelemetry {
  const t = new SelfTelemetry();
  t.gauge('enabled_configs', 'The set of enabled configs').set({ name: 'timers' }, 1);
  t.gauge('program_attached', 'ours').set(
    { config: 'timers', program: 'p', hook: 'fentry', reason: 'ok' },
    1,
  );
  t.gauge('map_entries', 'ours').set({ config: 'timers', map: 'm' }, 2);
  t.counter('ebpf_program_run_count_total', 'runs').add({ id: '7' }, 3);
  return t;
}

const quiet = pino({ level: 'silent' });

describe('self-metrics server (service.telemetry.metrics.readers)', () => {
  it('serves the level’s self-metrics under their exposed names, valid for promtool', async () => {
    const t = telemetry();
    const server = new SelfMetricsServer({
      endpoint: { host: '127.0.0.1', port: 0 },
      telemetry: () => t,
      ready: () => true,
      logger: quiet,
    });
    await server.listen();
    try {
      const port = server.address.port;
      const first = await httpGet(port, '/metrics');
      assert.equal(first.status, 200);
      let body = first.body;
      assert.match(body, /^ebpf_exporter_enabled_configs\{name="timers"\} 1$/m);
      assert.match(body, /^ebpf_collector_program_attached\{.*program="p".*\} 1$/m);
      assert.match(body, /^ebpf_collector_map_entries\{.*\} 2$/m);
      assert.match(body, /^ebpf_exporter_build_info\{/m);
      assert.doesNotMatch(body, /run_count/, 'detailed only');
      assertPromtoolAccepts(body);
      t.level = 'basic';
      ({ body } = await httpGet(port, '/metrics'));
      assert.match(body, /ebpf_collector_program_attached/);
      assert.doesNotMatch(body, /map_entries/);
      t.level = 'detailed';
      ({ body } = await httpGet(port, '/metrics'));
      assert.match(body, /^ebpf_exporter_ebpf_program_run_count_total\{id="7"\} 3$/m);
      assert.equal((await httpGet(port, '/healthz')).status, 200);
    } finally {
      await server.close();
    }
  });

  it('with their own endpoint the self-metrics leave the pipeline’s /metrics', async () => {
    const logger = quiet;
    const exporter = new PrometheusMetricsExporter(configSchema.parse({ endpoint: '127.0.0.1:0' }), logger);
    const t = telemetry();
    t.ownEndpoint = true;
    const input = new Subject<MetricBatch>();
    exporter.consume(input);
    await exporter.start(testHost({ logger, telemetry: t }));
    try {
      const batch: MetricBatch = {
        source: 'ebpf/timers',
        config: 'timers',
        timeMs: Date.now(),
        families: [
          {
            kind: 'counter',
            name: 'timer_starts_total',
            help: 'h',
            startTimeMs: Date.now(),
            points: [{ labels: [], value: 5 }],
          },
        ],
      };
      input.next(batch);
      const { body } = await httpGet(exporter.address?.port ?? 0, '/metrics');
      assert.match(body, /^ebpf_exporter_timer_starts_total 5$/m);
      assert.doesNotMatch(body, /enabled_configs|ebpf_collector_|build_info|process_/);
    } finally {
      await exporter.shutdown();
    }
  });
});
