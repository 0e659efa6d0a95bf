import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Subject, map } from 'rxjs';
import { pino } from 'pino';
import { z } from 'zod';
import { CollectorErrors } from '../errors.ts';
import { factories as realFactories } from '../components.ts';
import {
  logRecordsOf,
  spansOf,
  startOtlpReceiver,
  typedAttributes,
} from '../../test/helpers/otlp-receiver.ts';
import { Agent, type Factories, type PipelineSpec } from './graph.ts';
import type { Exporter, Host, Processor, Receiver, ReceiverFactory } from './component.ts';
import type { LogBatch, MetricBatch, SpanBatch, SpanRecord } from './data.ts';

const logger = pino({ level: 'silent' });
const schema = z.strictObject({});

const SPAN: SpanRecord = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  name: 'read',
  startTimeUnixNano: 1_764_000_000_000_000_001n,
  endTimeUnixNano: 1_764_000_000_000_000_101n,
  attributes: { comm: 'cat', pid: '7' },
};

type EventReceiver = Receiver & { spans: Subject<SpanBatch>; logs: Subject<LogBatch> };

/** A receiver with span and log streams fed from in-memory Subjects (and metrics that need ksym). */
const eventReceiverFactory = (journal: string[]): ReceiverFactory => ({
  type: 'ev',
  kind: 'receiver',
  configSchema: schema,
  create: (s): EventReceiver => {
    const spans = new Subject<SpanBatch>();
    const logs = new Subject<LogBatch>();
    journal.push(`create ${s.id}`);
    return {
      spans,
      logs,
      spans$: spans.asObservable(),
      logs$: logs.asObservable(),
      output$: new Subject<MetricBatch>().asObservable(),
      pendingDecoders: ['ksym'],
      collectNow: async () => {},
      start: async () => {
        journal.push(`start ${s.id}`);
      },
      shutdown: async () => {
        journal.push(`stop ${s.id}`);
      },
    };
  },
});

function makeFactories(journal: string[]): Factories {
  const lifecycle = (id: string) => ({
    start: async (_h: Host) => {
      journal.push(`start ${id}`);
    },
    shutdown: async () => {
      journal.push(`stop ${id}`);
    },
  });
  return {
    receivers: new Map<string, ReceiverFactory>([
      ['ev', eventReceiverFactory(journal)],
      [
        'plain',
        {
          type: 'plain',
          kind: 'receiver',
          configSchema: schema,
          create: (s): Receiver => ({
            ...lifecycle(s.id),
            output$: new Subject<MetricBatch>().asObservable(),
            collectNow: async () => {},
          }),
        },
      ],
    ]),
    processors: new Map([
      [
        'tag',
        {
          type: 'tag',
          kind: 'processor' as const,
          pipelineTypes: ['metrics', 'traces', 'logs'] as const,
          configSchema: schema,
          create: (s: { id: string }): Processor => ({
            ...lifecycle(s.id),
            operator: map((b: MetricBatch) => b),
            spansOperator: map((b: SpanBatch) => ({
              ...b,
              spans: b.spans.map((x) => ({ ...x, attributes: { ...x.attributes, via: s.id } })),
            })),
            logsOperator: map((b: LogBatch) => ({
              ...b,
              records: b.records.map((x) => ({ ...x, attributes: { ...x.attributes, via: s.id } })),
            })),
          }),
        },
      ],
      [
        'ksymlike',
        {
          type: 'ksymlike',
          kind: 'processor' as const,
          configSchema: schema,
          create: (s: { id: string }): Processor => ({
            ...lifecycle(s.id),
            operator: map((b: MetricBatch) => b),
          }),
        },
      ],
    ]),
    exporters: new Map([
      [
        'evsink',
        {
          type: 'evsink',
          kind: 'exporter' as const,
          configSchema: schema,
          create: (s: { id: string }): Exporter => ({
            ...lifecycle(s.id),
            consume: () => {},
            consumeSpans: (input$) => {
              input$.subscribe((b) =>
                journal.push(`spans ${b.spans.map((x) => x.attributes['via']).join()} at ${s.id}`),
              );
            },
            consumeLogs: (input$) => {
              input$.subscribe((b) => journal.push(`logs ${b.records.length} at ${s.id}`));
            },
          }),
        },
      ],
      [
        'msink',
        {
          type: 'msink',
          kind: 'exporter' as const,
          configSchema: schema,
          create: (s: { id: string }): Exporter => ({ ...lifecycle(s.id), consume: () => {} }),
        },
      ],
    ]),
    decoderProviders: new Map([['ksym', 'ksymlike']]),
  };
}

const configs = (ids: { receivers: string[]; processors: string[]; exporters: string[] }) => ({
  receivers: new Map(ids.receivers.map((id) => [id, { config: {}, configDir: '.' }])),
  processors: new Map(ids.processors.map((id) => [id, { config: {}, configDir: '.' }])),
  exporters: new Map(ids.exporters.map((id) => [id, { config: {}, configDir: '.' }])),
});

describe('traces and logs pipelines', () => {
  it('wire spans$ and logs$ through the operators to the exporters; a shared receiver runs once; no implicit decoder processors', async () => {
    const journal: string[] = [];
    const pipelines: PipelineSpec[] = [
      { id: 'metrics', receivers: ['ev'], processors: [], exporters: ['msink'] },
      { id: 'traces', receivers: ['ev'], processors: ['tag/a', 'tag/b'], exporters: ['evsink'] },
      { id: 'logs/x', receivers: ['ev'], processors: ['tag/a'], exporters: ['evsink'] },
    ];
    const agent = await Agent.build(
      pipelines,
      configs({ receivers: ['ev'], processors: ['tag/a', 'tag/b'], exporters: ['msink', 'evsink'] }),
      makeFactories(journal),
      logger,
    );
    assert.deepEqual(journal.splice(0), ['create ev'], 'one receiver instance for three pipelines');
    assert.deepEqual(
      agent.processors.map((p) => p.id),
      ['ksymlike@metrics(implicit)', 'tag/a@traces', 'tag/b@traces', 'tag/a@logs/x'],
    );
    await agent.start();
    assert.deepEqual(journal.splice(0), [
      'start msink',
      'start evsink',
      'start ksymlike',
      'start tag/a',
      'start tag/b',
      'start tag/a',
      'start ev',
    ]);
    const ev = agent.receivers[0]?.component as EventReceiver;
    ev.spans.next({ source: 'ev', config: 'ev', spans: [SPAN] });
    ev.logs.next({ source: 'ev', config: 'ev', records: [] });
    assert.deepEqual(journal.splice(0), ['spans tag/b at evsink', 'logs 0 at evsink']);
    await agent.shutdown();
    assert.deepEqual(journal, [
      'stop ev',
      'stop ksymlike',
      'stop tag/a',
      'stop tag/b',
      'stop tag/a',
      'stop msink',
      'stop evsink',
    ]);
  });

  it('a receiver without a span stream, a metrics-only processor or exporter: ERR_CONFIG_PIPELINE_TYPE at each list entry', async () => {
    const journal: string[] = [];
    const at = (kind: string, index: number) => ({ file: 'x.yaml', line: 10 + index, col: kind.length });
    await assert.rejects(
      Agent.build(
        [
          {
            id: 'traces',
            receivers: ['ev', 'plain'],
            processors: ['ksymlike'],
            exporters: ['evsink', 'msink'],
            positionOf: at,
          },
        ],
        configs({ receivers: ['ev', 'plain'], processors: ['ksymlike'], exporters: ['evsink', 'msink'] }),
        makeFactories(journal),
        logger,
      ),
      (err: unknown) => {
        assert.ok(err instanceof CollectorErrors);
        assert.deepEqual(
          err.errors.map((e) => e.format()),
          [
            'x.yaml:10:10: service.pipelines.traces.processors[0]: processor "ksymlike" cannot process spans, so it cannot be in a traces pipeline [ERR_CONFIG_PIPELINE_TYPE]',
            'x.yaml:11:9: service.pipelines.traces.receivers[1]: receiver "plain" produces no spans, so it cannot be in a traces pipeline: it has no span stream configured [ERR_CONFIG_PIPELINE_TYPE]',
            'x.yaml:11:9: service.pipelines.traces.exporters[1]: exporter "msink" cannot export spans, so it cannot be in a traces pipeline [ERR_CONFIG_PIPELINE_TYPE]',
          ],
        );
        return true;
      },
    );
  });

  it('real processors (resource, attributes, filter) and the real otlp exporter carry spans and logs to a loopback receiver', async () => {
    const receiver = await startOtlpReceiver();
    const journal: string[] = [];
    const factories: Factories = {
      ...realFactories,
      receivers: new Map([['ev', eventReceiverFactory(journal)]]),
    };
    const parse = (kind: 'processors' | 'exporters', type: string, config: unknown) =>
      (factories[kind].get(type) as { configSchema: z.ZodType }).configSchema.parse(config);
    const processorConfigs = new Map([
      [
        'resource',
        {
          config: parse('processors', 'resource', {
            attributes: [{ key: 'k8s.cluster.name', value: 'prod', action: 'insert' }],
          }),
          configDir: '.',
        },
      ],
      [
        'attributes',
        {
          config: parse('processors', 'attributes', {
            actions: [
              { key: 'pid', action: 'hash' },
              { key: 'team', value: 'infra', action: 'insert' },
            ],
          }),
          configDir: '.',
        },
      ],
      [
        'filter',
        {
          config: parse('processors', 'filter', {
            metrics: { exclude: ['noise'] },
            datapoints: { exclude: [{ label: 'comm', value: 'drop-me' }] },
          }),
          configDir: '.',
        },
      ],
    ]);
    const exporterConfigs = new Map([
      [
        'otlp',
        {
          config: parse('exporters', 'otlp', {
            endpoint: `http://${receiver.endpoint}`,
            sending_queue: { batch: { flush_timeout: '10ms' } },
          }),
          configDir: '.',
        },
      ],
    ]);
    const procs = ['resource', 'attributes', 'filter'];
    const agent = await Agent.build(
      [
        { id: 'traces', receivers: ['ev'], processors: procs, exporters: ['otlp'] },
        { id: 'logs', receivers: ['ev'], processors: procs, exporters: ['otlp'] },
      ],
      {
        receivers: new Map([['ev', { config: {}, configDir: '.' }]]),
        processors: processorConfigs,
        exporters: exporterConfigs,
      },
      factories,
      logger,
    );
    try {
      await agent.start();
      const ev = agent.receivers[0]?.component as EventReceiver;
      ev.spans.next({
        source: 'ev',
        config: 'ev',
        spans: [
          SPAN,
          { ...SPAN, spanId: '00f067aa0ba902b8', name: 'noise' },
          { ...SPAN, spanId: '00f067aa0ba902b9', attributes: { comm: 'drop-me' } },
        ],
      });
      ev.logs.next({
        source: 'ev',
        config: 'ev',
        records: [
          {
            timeUnixNano: 1n,
            observedTimeUnixNano: 2n,
            eventName: 'exec',
            body: 'b',
            attributes: { comm: 'sh', pid: 12, n: 3 },
          },
          {
            timeUnixNano: 1n,
            observedTimeUnixNano: 2n,
            eventName: 'exec',
            body: 'b',
            attributes: { comm: 'drop-me' },
          },
        ],
      });
      await receiver.waitForEventCalls('traces', 1);
      await receiver.waitForEventCalls('logs', 1);
      const spans = spansOf(receiver.traceCalls[0]!);
      assert.deepEqual(
        spans.map((x) => x.span.name),
        ['read'],
        'filter dropped the span named noise and the one with comm=drop-me',
      );
      assert.deepEqual(spans[0]!.resource['k8s.cluster.name'], { s: 'prod' });
      const pidHash = '7902699be42c8a8e46fbbb4501726517e86b22c56a189f7625a6da49081b2451'; // sha256("7")
      assert.deepEqual(typedAttributes(spans[0]!.span.attributes), {
        comm: { s: 'cat' },
        pid: { s: pidHash },
        team: { s: 'infra' },
      });
      const logs = logRecordsOf(receiver.logCalls[0]!);
      assert.equal(logs.length, 1);
      assert.deepEqual(logs[0]!.resource['k8s.cluster.name'], { s: 'prod' });
      assert.deepEqual(typedAttributes(logs[0]!.record.attributes), {
        comm: { s: 'sh' },
        pid: { s: '6b51d431df5d7f141cbececcf79edf3dd861c3b4069f0b11661a3eefacbba918' }, // sha256("12"): hashed → text
        n: { i: '3' }, // untouched: stays an int
        team: { s: 'infra' },
      });
    } finally {
      await agent.shutdown();
      await receiver.close();
    }
  });
});
