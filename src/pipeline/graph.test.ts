import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject, map } from 'rxjs';
import { pino } from 'pino';
import { z } from 'zod';
import { Agent, type Factories, type PipelineSpec } from './graph.ts';
import type { Exporter, Host, Processor, Receiver } from './component.ts';
import type { MetricBatch } from './data.ts';

const logger = pino({ level: 'silent' });

/** Components that record what happens to them, in one shared journal. */
function makeFactories(journal: string[], opts: { failStart?: string } = {}): Factories {
  const schema = z.strictObject({});
  const lifecycle = (id: string) => ({
    async start(_host: Host) {
      if (opts.failStart === id) throw new Error(`${id} failed`);
      journal.push(`start ${id}`);
    },
    async shutdown() {
      journal.push(`stop ${id}`);
    },
  });
  return {
    receivers: new Map([
      [
        'src',
        {
          type: 'src',
          kind: 'receiver' as const,
          configSchema: schema,
          create: (s: { id: string }): Receiver & { subject: Subject<MetricBatch> } => {
            const subject = new Subject<MetricBatch>();
            return {
              ...lifecycle(s.id),
              subject,
              output$: subject.asObservable(),
              pendingDecoders: ['ksym'],
              collectNow: async () => {
                journal.push(`pull ${s.id}`);
                subject.next({ source: s.id, config: s.id, timeMs: 0, families: [] });
              },
            };
          },
        },
      ],
    ]),
    processors: new Map([
      [
        'tag',
        {
          type: 'tag',
          kind: 'processor' as const,
          configSchema: schema,
          create: (s: { id: string }): Processor => ({
            ...lifecycle(s.id),
            operator: map((b: MetricBatch) => {
              journal.push(`through ${s.id}`);
              return b;
            }),
          }),
        },
      ],
    ]),
    exporters: new Map([
      [
        'sink',
        {
          type: 'sink',
          kind: 'exporter' as const,
          configSchema: schema,
          create: (s: { id: string }): Exporter & { host?: Host } => {
            const self: Exporter & { host?: Host } = {
              async start(host: Host) {
                if (opts.failStart === s.id) throw new Error('sink failed');
                self.host = host;
                journal.push(`start ${s.id}`);
              },
              async shutdown() {
                journal.push(`stop ${s.id}`);
              },
              consume: (input$) => {
                input$.subscribe((b) => journal.push(`got ${b.source} at ${s.id}`));
              },
            };
            return self;
          },
        },
      ],
    ]),
    decoderProviders: new Map([['ksym', 'tag']]),
  };
}

const configs = (ids: { receivers: string[]; processors: string[]; exporters: string[] }) => ({
  receivers: new Map(ids.receivers.map((id) => [id, { config: {}, configDir: '.' }])),
  processors: new Map(ids.processors.map((id) => [id, { config: {}, configDir: '.' }])),
  exporters: new Map(ids.exporters.map((id) => [id, { config: {}, configDir: '.' }])),
});

test('starts downstream-first, stops upstream-first; a receiver in two pipelines runs once', async () => {
  const journal: string[] = [];
  const pipelines: PipelineSpec[] = [
    { id: 'metrics/a', receivers: ['src'], processors: ['tag'], exporters: ['sink/a'] },
    { id: 'metrics/b', receivers: ['src'], processors: ['tag'], exporters: ['sink/b'] },
  ];
  const agent = await Agent.build(
    pipelines,
    configs({ receivers: ['src'], processors: ['tag'], exporters: ['sink/a', 'sink/b'] }),
    makeFactories(journal),
    logger,
  );
  assert.equal(agent.receivers.length, 1);
  assert.equal(agent.processors.length, 2, 'one processor instance per pipeline');
  await agent.start();
  assert.deepEqual(journal.splice(0), [
    'start sink/a',
    'start sink/b',
    'start tag',
    'start tag',
    'start src',
  ]);
  await agent.receivers[0]?.component.collectNow();
  assert.deepEqual(
    journal.splice(0).sort(),
    ['got src at sink/a', 'got src at sink/b', 'pull src', 'through tag', 'through tag'].sort(),
  );
  await agent.shutdown();
  await agent.shutdown();
  assert.deepEqual(journal, ['stop src', 'stop tag', 'stop tag', 'stop sink/a', 'stop sink/b']);
});

test('a pipeline lacking the processor for a pending decoder gets one implicitly', async () => {
  const journal: string[] = [];
  const agent = await Agent.build(
    [{ id: 'metrics', receivers: ['src'], processors: [], exporters: ['sink'] }],
    configs({ receivers: ['src'], processors: [], exporters: ['sink'] }),
    makeFactories(journal),
    logger,
  );
  assert.equal(agent.processors.length, 1);
  assert.match(agent.processors[0]?.id ?? '', /^tag@metrics\(implicit\)$/);
  await agent.start();
  journal.length = 0;
  await agent.receivers[0]?.component.collectNow();
  assert.deepEqual(journal, ['pull src', 'through tag', 'got src at sink']);
  await agent.shutdown();
});

test('a failed start shuts down what started and rethrows', async () => {
  const journal: string[] = [];
  const agent = await Agent.build(
    [{ id: 'metrics', receivers: ['src'], processors: ['tag'], exporters: ['sink'] }],
    configs({ receivers: ['src'], processors: ['tag'], exporters: ['sink'] }),
    makeFactories(journal, { failStart: 'src' }),
    logger,
  );
  await assert.rejects(agent.start(), /src failed/);
  assert.deepEqual(journal, ['start sink', 'start tag', 'stop src', 'stop tag', 'stop sink']);
});
