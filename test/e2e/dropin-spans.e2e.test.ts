/**
 * ebpf_exporter's drop-in command line with a `tracing.spans` config: the spans reach a
 * real OTLP receiver configured by OpenTelemetry's standard environment alone (no config
 * file), over gRPC and over HTTP (http/protobuf). The program (test/bpf/span_marker.bpf.c)
 * writes one span per getpgid(MARKER) from any process; a python3 child makes exactly N.
 * (The warning for spans that nothing sends, OTEL_TRACES_EXPORTER=none, is checked on the
 * generated config in src/dropin-spans.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, startAgentWith } from '../helpers/agent.ts';
import { spansOf, startOtlpReceiver, typedAttributes, type OtlpReceiver } from '../helpers/otlp-receiver.ts';

const N = 12;
const MARKER = 0x3fffff52; // span_marker.bpf.c's; a pid nobody has

function exporterDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dropin-spans-'));
  copyFileSync(join(repoRoot, 'build', 'bpf', 'span_marker.bpf.o'), join(dir, 'span_marker.bpf.o'));
  copyFileSync(join(repoRoot, 'test', 'bpf', 'span_marker.yaml'), join(dir, 'span_marker.yaml'));
  return dir;
}

async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function spansArrive(env: (r: OtlpReceiver) => Record<string, string>): Promise<void> {
  const receiver = await startOtlpReceiver();
  const dir = exporterDir();
  try {
    const agent = await startAgentWith(
      [`--config.dir=${dir}`, '--config.names=span_marker', '--web.listen-address=127.0.0.1:0'],
      env(receiver),
    );
    try {
      assert.ok(!agent.logs.some((l) => l.includes('ERR_DROPIN_SPANS_UNSENT')), agent.logs.join('\n'));
      const py = spawnSync(
        '/usr/bin/python3',
        [
          '-c',
          `import os\nfor _ in range(${N}):\n    try: os.getpgid(${MARKER})\n    except OSError: pass\n`,
        ],
        { encoding: 'utf8', timeout: 30_000 },
      );
      assert.equal(py.status, 0, py.stderr);
      const all = () => receiver.traceCalls.flatMap(spansOf);
      await until(() => all().length >= N, `${N} spans`);
      const spans = all();
      assert.equal(spans.length, N);
      // Other processes cannot fire the probe (the marker pid does not exist), so seq is 0..N-1 in order.
      spans.forEach(({ span }, i) => {
        assert.equal(span.name, 'getpgid');
        assert.equal(span.traceId, `ab${'0'.repeat(28)}${i.toString(16).padStart(2, '0')}`);
        assert.equal(BigInt(span.endTimeUnixNano) - BigInt(span.startTimeUnixNano), 1_000_000n);
        assert.deepEqual(typedAttributes(span.attributes), {
          seq: { s: String(i) },
          'ebpf_exporter.config': { s: 'span_marker' },
        });
      });
    } finally {
      assert.equal(await agent.stop(), 0, agent.logs.join('\n'));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await receiver.close();
  }
}

test('drop-in: OTEL_EXPORTER_OTLP_PROTOCOL=grpc and OTEL_EXPORTER_OTLP_ENDPOINT send the spans over OTLP/gRPC', () =>
  spansArrive((r) => ({
    OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://${r.endpoint}`,
  })));

test('drop-in: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT alone sends the spans over OTLP/HTTP (the default protocol)', () =>
  spansArrive((r) => ({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${r.httpUrl}/v1/traces` })));
