import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { pino } from 'pino';
import type { MetricBatch, MetricFamily, ScalarPoint } from '../../src/pipeline/data.ts';
import { assemble } from '../../src/pipeline/assemble.ts';
import { ebpfReceiverFactory } from '../../src/receivers/ebpf/factory.ts';
import { configSchema } from '../../src/receivers/ebpf/config.ts';
import type { EbpfReceiver } from '../../src/receivers/ebpf/receiver.ts';
import { ksymProcessorFactory } from '../../src/processors/ksym/factory.ts';
import { configSchema as ksymSchema } from '../../src/processors/ksym/config.ts';
import { repoRoot } from '../helpers/agent.ts';
import { testHost } from '../helpers/host.ts';

const logger = pino({ level: 'silent' });
const host = testHost();

/**
 * Open `connections` loopback TCP connections and echo one message on each: every
 * incoming connection request arms a request-sock timer (reqsk_timer_handler) and
 * unacked data arms the retransmit timer (tcp_write_timer).
 */
async function tcpTraffic(connections: number): Promise<void> {
  const server = createServer((s) => s.on('data', (d) => s.write(d)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  for (let i = 0; i < connections; i++) {
    const client: Socket = connect(port, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    client.write(Buffer.alloc(100, i));
    await new Promise((r) => client.once('data', r));
    client.destroy();
  }
  await new Promise((r) => server.close(r));
}

async function run(
  program: string,
  hooks: string[] | undefined,
  metric: string,
): Promise<{ hook: string | undefined; delta: Map<string, number> }> {
  const receiver = (await ebpfReceiverFactory.create(
    { id: `ebpf/${program}`, logger, configDir: repoRoot },
    configSchema.parse({ program, ...(hooks ? { hooks } : {}) }),
  )) as EbpfReceiver;
  const ksym = await ksymProcessorFactory.create(
    { id: 'ksym', logger, configDir: repoRoot },
    ksymSchema.parse({}),
  );
  let last: MetricFamily[] = [];
  const sub = receiver.output$
    .pipe(ksym.operator)
    .subscribe((b: MetricBatch) => (last = assemble(b.families)));
  await ksym.start(host);
  await receiver.start(host);
  const values = (): Map<string, number> =>
    new Map(
      ((last.find((f) => f.name === metric)?.points ?? []) as ScalarPoint[]).map((p) => [
        p.labels['function'] as string,
        p.value,
      ]),
    );
  try {
    await receiver.collectNow();
    const before = values();
    await tcpTraffic(10);
    await receiver.collectNow();
    const after = values();
    const delta = new Map([...after].map(([fn, v]) => [fn, v - (before.get(fn) ?? 0)]));
    return { hook: receiver.hook, delta };
  } finally {
    sub.unsubscribe();
    await receiver.shutdown();
    await ksym.shutdown();
  }
}

/**
 * raw-tracepoints prefers its `raw_tp` set, which needs the bpf_rdonly_cast kfunc (Linux 6.2+):
 * a kernel whose BTF does not name it runs `raw_tp_probe`.
 */
const rawTpDefault = readFileSync('/sys/kernel/btf/vmlinux').includes('\0bpf_rdonly_cast\0')
  ? 'raw_tp'
  : 'raw_tp_probe';

for (const [program, hooks, metric, hook] of [
  ['timers', undefined, 'timer_starts_total', 'tp_btf'],
  ['timers', ['tracepoint'], 'timer_starts_total', 'tracepoint'],
  ['raw-tracepoints', undefined, 'raw_timer_starts_total', rawTpDefault],
  ['raw-tracepoints', ['raw_tp_probe'], 'raw_timer_starts_total', 'raw_tp_probe'],
] as const) {
  test(`${program} via ${hook || 'raw_tp'}: loopback TCP connections start their timers, counted by symbol`, async () => {
    const r = await run(program, hooks ? [...hooks] : undefined, metric);
    assert.equal(r.hook, hook);
    const seen = JSON.stringify([...r.delta]);
    assert.ok((r.delta.get('reqsk_timer_handler') ?? 0) >= 10, `10 connection requests: ${seen}`);
    assert.ok((r.delta.get('tcp_write_timer') ?? 0) >= 1, `retransmit timer armed: ${seen}`);
    assert.ok(
      [...r.delta.values()].every((d) => d >= 0),
      'a counter went backwards',
    );
  });
}
