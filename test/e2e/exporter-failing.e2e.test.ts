/**
 * An exporter that cannot send says so at once and then keeps quiet: the agent
 * (bin/ebpf-collector.js run) exports kernel timers to four OTLP peers that fail in
 * real ways — a port that refuses connections (gRPC and HTTP), a black hole (a TCP
 * server that accepts and never answers) and a TLS server whose certificate the
 * exporter's CA did not sign. Each exporter logs one warning with the reason at its
 * first failure, no more within the minute however often it retries, shows in
 * /readyz's body (degraded; the agent stays ready), and when a real OTLP receiver
 * comes up on the refused gRPC port, that exporter logs its recovery once and leaves the body.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { httpGet, startAgent, type RunningAgent } from '../helpers/agent.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { selfSignedCert } from '../helpers/tls-cert.ts';

/** A port nothing listens on (bound, then closed): connections are refused. */
async function refusingPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Accepts connections and never writes a byte. */
async function blackHole(): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

const SEND = `    interval: 1s
    timeout: 1500ms
    retry_on_failure: { initial_interval: 200ms, max_interval: 500ms }`;

function config(
  refused: number,
  refusedHttp: number,
  hole: number,
  tlsEndpoint: string,
  otherCa: string,
): string {
  return `receivers:
  ebpf/timers:
    program: timers
    poll_interval: 1s
processors:
  ksym: {}
exporters:
  prometheus:
    endpoint: \${env:EBPF_COLLECTOR_LISTEN}
  otlp/refused:
    endpoint: 127.0.0.1:${refused}
    tls: { insecure: true }
${SEND}
  otlphttp/refused:
    endpoint: http://127.0.0.1:${refusedHttp}
${SEND}
  otlp/blackhole:
    endpoint: 127.0.0.1:${hole}
    tls: { insecure: true }
${SEND}
  otlp/tls:
    endpoint: ${tlsEndpoint}
    tls: { ca_file: ${otherCa} }
${SEND}
service:
  pipelines:
    metrics:
      receivers: [ebpf/timers]
      processors: [ksym]
      exporters: [prometheus, otlp/refused, otlphttp/refused, otlp/blackhole, otlp/tls]
`;
}

interface Line {
  level: string;
  id?: string;
  msg: string;
  reason?: string;
}

function lines(agent: RunningAgent): Line[] {
  return agent.logs.flatMap((l) => {
    try {
      return [JSON.parse(l) as Line];
    } catch {
      return [];
    }
  });
}

async function until<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  ms = 20_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(200);
  }
}

test('refused, black-holed and TLS-mismatched OTLP peers: one warning each with the reason, /readyz lists them, recovery logged once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'exporter-failing-'));
  const refused = await refusingPort();
  const refusedHttp = await refusingPort();
  const hole = await blackHole();
  const serverCert = selfSignedCert();
  const otherCa = selfSignedCert(); // a CA that did not sign the server's certificate
  const tlsPeer = await startOtlpReceiver({ tls: { cert: serverCert.cert, key: serverCert.key } });
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, config(refused, refusedHttp, hole.port, tlsPeer.endpoint, otherCa.certFile));
  // Everything above is closed in `finally` even when the agent fails to start: a peer left
  // listening keeps this test's process alive until the runner's timeout.
  let started: RunningAgent | undefined;
  let receiver: OtlpReceiver | undefined;
  try {
    const agent = await startAgent([file]);
    started = agent;
    const failing = ['otlp/refused', 'otlphttp/refused', 'otlp/blackhole', 'otlp/tls'];
    const firstOf = (id: string): Line[] =>
      lines(agent).filter((l) => l.id === id && / failing: /.test(l.msg) && l.level === 'warn');
    await until('a first-failure line from every failing exporter', () =>
      failing.every((id) => firstOf(id).length > 0) ? true : undefined,
    );
    // The reasons name what went wrong.
    assert.match(firstOf('otlp/refused')[0]?.reason ?? '', /ECONNREFUSED/);
    assert.match(firstOf('otlphttp/refused')[0]?.reason ?? '', /ECONNREFUSED/);
    assert.match(firstOf('otlp/blackhole')[0]?.reason ?? '', /DEADLINE_EXCEEDED|timed out|timeout/i);
    assert.match(firstOf('otlp/tls')[0]?.reason ?? '', /certificate|self[- ]signed|SSL|TLS/i);

    // Degraded, not unready: /readyz is 200 and lists every failing exporter with its reason.
    const ready = await httpGet(agent.port, '/readyz');
    assert.equal(ready.status, 200, ready.body);
    assert.match(ready.body, /^ready\ndegraded:\n/);
    for (const id of failing)
      assert.match(ready.body, new RegExp(`  exporter ${id}: OTLP .* failing since `));
    const json = JSON.parse((await httpGet(agent.port, '/readyz', { accept: 'application/json' })).body) as {
      components: { id: string; ready: boolean; problems: string[] }[];
    };
    const refusedHealth = json.components.find((c) => c.id === 'otlp/refused');
    assert.equal(refusedHealth?.ready, true);
    assert.match(refusedHealth?.problems[0] ?? '', /ECONNREFUSED/);

    // Rate-limited: several more seconds of retries (5+ attempts each) add no line.
    await delay(5000);
    for (const id of failing)
      assert.equal(firstOf(id).length, 1, `${id}: one failure line within the minute`);
    const loud = lines(agent).filter((l) => l.level === 'warn' || l.level === 'error');
    assert.equal(loud.length, failing.length, JSON.stringify(loud, null, 1));

    // A real receiver on the refused port: otlp/refused recovers, logged once, gone from /readyz.
    receiver = await startOtlpReceiver({ port: refused });
    await until('otlp/refused recovered', () =>
      lines(agent).some((l) => l.id === 'otlp/refused' && / recovered after /.test(l.msg)) ? true : undefined,
    );
    await delay(2500);
    const recovered = lines(agent).filter((l) => / recovered after /.test(l.msg));
    assert.deepEqual(
      recovered.map((l) => [l.id, l.level]),
      [['otlp/refused', 'info']],
    );
    const after = await httpGet(agent.port, '/readyz');
    assert.doesNotMatch(after.body, /otlp\/refused/);
    assert.match(after.body, /exporter otlphttp\/refused: /);
    assert.match(after.body, /exporter otlp\/blackhole: /);
    assert.match(after.body, /exporter otlp\/tls: /);
  } finally {
    await started?.stop();
    await receiver?.close();
    await tlsPeer.close();
    for (const s of hole.sockets) s.destroy();
    hole.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
