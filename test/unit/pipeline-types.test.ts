/**
 * traces and logs pipelines through the CLI and the JSON Schema: accepted pipeline ids,
 * print-config keeps them, and a receiver without span/log streams in one is refused when
 * the agent is built (validate), at its list entry.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { configJsonSchema } from '../../src/schema.ts';
import { runCli } from '../helpers/agent.ts';

const config = `receivers:
  ebpf/timers:
    program: timers
processors:
  resource:
    attributes:
      - { key: k8s.cluster.name, value: prod, action: insert }
exporters:
  prometheus:
  otlp:
    endpoint: http://127.0.0.1:4317
service:
  pipelines:
    metrics:
      receivers: [ebpf/timers]
      exporters: [prometheus]
    traces/kernel:
      receivers: [ebpf/timers]
      processors: [resource]
      exporters: [otlp]
    logs:
      receivers: [ebpf/timers]
      exporters: [otlp]
`;

describe('traces and logs pipelines', () => {
  it('the JSON Schema accepts metrics, traces and logs pipeline ids and refuses others', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    const validate = ajv.compile(configJsonSchema());
    const data = parse(config) as { service: { pipelines: Record<string, unknown> } };
    assert.ok(validate(data), ajv.errorsText(validate.errors));
    data.service.pipelines['profiles'] = data.service.pipelines['logs'];
    assert.equal(validate(data), false);
    assert.match(ajv.errorsText(validate.errors), /propertyName|property name/);
  });

  it('print-config keeps them; validate refuses a receiver without span or log streams, at each entry', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pipeline-types-'));
    try {
      const file = join(dir, 'events.yaml');
      writeFileSync(file, config);
      const printed = runCli(['print-config', '--config', file]);
      assert.equal(printed.status, 0, printed.stderr);
      assert.match(printed.stdout, /^ {4}traces\/kernel:\n {6}receivers:\n {8}- ebpf\/timers$/m);
      assert.match(printed.stdout, /^ {4}logs:$/m);
      assert.match(
        printed.stdout,
        /^ {6}queue_size: 10000$/m,
        'the otlp exporter shows its sending_queue defaults',
      );

      const r = runCli(['validate', '--config', file]);
      assert.equal(r.status, 2, r.stdout + r.stderr);
      const lines = r.stderr.split('\n').filter((l) => l.includes('ERR_CONFIG_PIPELINE_TYPE'));
      assert.deepEqual(lines, [
        `${file}:18:19: service.pipelines.traces/kernel.receivers[0]: receiver "ebpf/timers" produces no spans, so it cannot be in a traces pipeline: it has no span stream configured [ERR_CONFIG_PIPELINE_TYPE]`,
        `${file}:22:19: service.pipelines.logs.receivers[0]: receiver "ebpf/timers" produces no log records, so it cannot be in a logs pipeline: it has no log stream configured [ERR_CONFIG_PIPELINE_TYPE]`,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
