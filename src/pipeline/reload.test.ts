import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Subject, map, type Subscription } from 'rxjs';
import { pino } from 'pino';
import { z } from 'zod';
import { Agent, type Factories, type PipelineSpec } from './graph.ts';
import type { Exporter, Host, Processor, Receiver } from './component.ts';
import type { MetricBatch } from './data.ts';
import { ReloadStopped } from './reload.ts';

const logger = pino({ level: 'silent' });

interface Conf {
  v?: number;
  fail?: boolean;
  /** start() waits for the test: see `held`. */
  hold?: boolean;
  file?: string;
}
const schema = z.strictObject({
  v: z.number().optional(),
  fail: z.boolean().optional(),
  hold: z.boolean().optional(),
  file: z.string().optional(),
});

/**
 * A component with `hold: true` tells `heldBegun` when its start() has begun, then waits for
 * `release()`: a test acts at a known point of a reload, not after a guessed delay.
 */
let release: () => void = () => {};
const held = new Promise<void>((r) => (release = r));
let begun: (name: string) => void = () => {};
const heldBegun = new Promise<string>((r) => (begun = r));

/** Components that record their lives in a journal; instances are numbered (`src#2`). */
function makeFactories(journal: string[]): Factories {
  let n = 0;
  const lifecycle = (name: string, c: Conf) => ({
    async start(_host: Host) {
      if (c.hold) {
        begun(name);
        await held;
      }
      if (c.fail) throw new Error(`${name} failed`);
      journal.push(`start ${name}`);
    },
    async shutdown() {
      journal.push(`stop ${name}`);
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
          create: (s: { id: string }, c: Conf): Receiver => {
            const name = `${s.id}#${++n}`;
            const subject = new Subject<MetricBatch>();
            return {
              ...lifecycle(name, c),
              output$: subject.asObservable(),
              collectNow: async () => {
                subject.next({ source: s.id, config: name, timeMs: 0, families: [] });
              },
              files: () => (c.file ? [c.file] : []),
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
          create: (s: { id: string }, c: Conf): Processor => {
            const name = `${s.id}#${++n}`;
            return {
              ...lifecycle(name, c),
              operator: map((b: MetricBatch) => ({ ...b, config: `${b.config}>${name}` })),
            };
          },
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
          create: (s: { id: string }, c: Conf): Exporter => {
            const name = `${s.id}#${++n}`;
            const life = lifecycle(name, c);
            let input: Subscription | undefined;
            return {
              ...life,
              // As the real exporters: nothing is taken in after shutdown.
              shutdown: async () => {
                input?.unsubscribe();
                await life.shutdown();
              },
              consume: (input$) => {
                input = input$.subscribe((b) => journal.push(`got ${b.config} at ${name}`));
              },
              forgetSource: (source) => journal.push(`forget ${source} at ${name}`),
            };
          },
        },
      ],
    ]),
    decoderProviders: new Map(),
  };
}

type Section = Record<string, Conf>;
function configs(receivers: Section, processors: Section, exporters: Section) {
  const m = (s: Section) =>
    new Map(Object.entries(s).map(([id, config]) => [id, { config, configDir: '.' }]));
  return { receivers: m(receivers), processors: m(processors), exporters: m(exporters) };
}
const pipeline = (receivers: string[], processors: string[], exporters: string[]): PipelineSpec[] => [
  { id: 'metrics', receivers, processors, exporters },
];

async function started(journal: string[]) {
  const factories = makeFactories(journal);
  const agent = await Agent.build(
    pipeline(['src/a'], ['tag'], ['sink']),
    configs({ 'src/a': {} }, { tag: {} }, { sink: {} }),
    factories,
    logger,
  );
  await agent.start();
  journal.length = 0;
  return { agent, factories };
}

async function pullAll(agent: Agent): Promise<void> {
  for (const r of agent.receivers) await r.component.collectNow();
}

test('an unchanged config keeps every component running; data flows as before', async () => {
  const journal: string[] = [];
  const { agent, factories } = await started(journal);
  const summary = await agent.reload(
    pipeline(['src/a'], ['tag'], ['sink']),
    configs({ 'src/a': {} }, { tag: {} }, { sink: {} }),
    factories,
  );
  assert.deepEqual(summary.started, []);
  assert.deepEqual(summary.stopped, []);
  assert.deepEqual([...summary.kept].sort(), ['sink', 'src/a', 'tag@metrics']);
  await pullAll(agent);
  assert.deepEqual(journal, ['got src/a#1>tag#3 at sink#2']);
  await agent.shutdown();
});

test('a changed processor is rebuilt alone; the stream goes through the new one only', async () => {
  const journal: string[] = [];
  const { agent, factories } = await started(journal);
  const summary = await agent.reload(
    pipeline(['src/a'], ['tag'], ['sink']),
    configs({ 'src/a': {} }, { tag: { v: 2 } }, { sink: {} }),
    factories,
  );
  assert.deepEqual(summary.started, ['tag@metrics']);
  assert.deepEqual(summary.stopped, ['tag@metrics']);
  assert.deepEqual(journal.splice(0), ['start tag#4', 'stop tag#3']);
  await pullAll(agent);
  assert.deepEqual(journal, ['got src/a#1>tag#4 at sink#2']);
  await agent.shutdown();
});

test('a changed receiver starts before the old one stops; a removed one is forgotten by the exporters', async () => {
  const journal: string[] = [];
  const { agent, factories } = await started(journal);
  await agent.reload(
    pipeline(['src/a', 'src/b'], ['tag'], ['sink']),
    configs({ 'src/a': { v: 1 }, 'src/b': {} }, { tag: {} }, { sink: {} }),
    factories,
  );
  // The new receivers read once right after the switch.
  assert.deepEqual(journal.splice(0), [
    'start src/a#4',
    'start src/b#5',
    'stop src/a#1',
    'got src/a#4>tag#3 at sink#2',
    'got src/b#5>tag#3 at sink#2',
  ]);
  await agent.reload(
    pipeline(['src/b'], ['tag'], ['sink']),
    configs({ 'src/b': {} }, { tag: {} }, { sink: {} }),
    factories,
  );
  assert.deepEqual(journal.splice(0), ['forget src/a at sink#2', 'stop src/a#4']);
  await pullAll(agent);
  assert.deepEqual(journal, ['got src/b#5>tag#3 at sink#2']);
  await agent.shutdown();
});

test('a new receiver that fails to start: the new ones stop, the old pipeline runs on untouched', async () => {
  const journal: string[] = [];
  const { agent, factories } = await started(journal);
  await assert.rejects(
    agent.reload(
      pipeline(['src/a', 'src/b'], ['tag'], ['sink']),
      configs({ 'src/a': {}, 'src/b': { fail: true } }, { tag: { v: 3 } }, { sink: {} }),
      factories,
    ),
    /src\/b#4 failed/,
  );
  assert.deepEqual(journal.splice(0), ['start tag#5', 'stop src/b#4', 'stop tag#5']);
  assert.deepEqual(
    agent.receivers.map((r) => r.id),
    ['src/a'],
  );
  await pullAll(agent);
  assert.deepEqual(journal, ['got src/a#1>tag#3 at sink#2']);
  assert.equal(agent.health().phase, 'running');
  await agent.shutdown();
});

test('a changed exporter is stopped before its successor starts; if that fails the old one is made again', async () => {
  const journal: string[] = [];
  const { agent, factories } = await started(journal);
  await agent.reload(
    pipeline(['src/a'], ['tag'], ['sink']),
    configs({ 'src/a': {} }, { tag: {} }, { sink: { v: 2 } }),
    factories,
  );
  assert.deepEqual(journal.splice(0), ['stop sink#2', 'start sink#4']);
  await assert.rejects(
    agent.reload(
      pipeline(['src/a'], ['tag'], ['sink']),
      configs({ 'src/a': {} }, { tag: {} }, { sink: { fail: true } }),
      factories,
    ),
    /sink#5 failed/,
  );
  assert.deepEqual(journal.splice(0), ['stop sink#4', 'stop sink#5', 'start sink#6']);
  await pullAll(agent);
  assert.deepEqual(journal, ['got src/a#1>tag#3 at sink#6']);
  await agent.shutdown();
  assert.deepEqual(journal.slice(1), ['stop src/a#1', 'stop tag#3', 'stop sink#6']);
});

test('a shutdown during a reload ends it: what it started is stopped, then the old pipelines', async () => {
  const journal: string[] = [];
  const { agent, factories } = await started(journal);
  const reloading = agent.reload(
    pipeline(['src/a', 'src/b', 'src/c'], ['tag'], ['sink']),
    configs({ 'src/a': {}, 'src/b': { hold: true }, 'src/c': {} }, { tag: {} }, { sink: {} }),
    factories,
  );
  // The shutdown comes while src/b is starting (src/c is not started yet).
  assert.equal(await heldBegun, 'src/b#4');
  const stopping = agent.shutdown();
  release();
  await assert.rejects(reloading, ReloadStopped);
  await stopping;
  assert.deepEqual(journal, [
    'start src/b#4',
    'stop src/b#4',
    'stop src/c#5',
    'stop src/a#1',
    'stop tag#3',
    'stop sink#2',
  ]);
});

test('a receiver whose file changed is made again even with the same config', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'reload-'));
  const file = join(dir, 'prog.bpf.o');
  writeFileSync(file, 'one');
  const journal: string[] = [];
  const factories = makeFactories(journal);
  const c = () => configs({ 'src/a': { file } }, { tag: {} }, { sink: {} });
  const agent = await Agent.build(pipeline(['src/a'], ['tag'], ['sink']), c(), factories, logger);
  await agent.start();
  assert.deepEqual(agent.files(), [file]);
  assert.deepEqual((await agent.reload(pipeline(['src/a'], ['tag'], ['sink']), c(), factories)).started, []);
  writeFileSync(file, 'two');
  assert.deepEqual((await agent.reload(pipeline(['src/a'], ['tag'], ['sink']), c(), factories)).started, [
    'src/a',
  ]);
  await agent.shutdown();
});

test('beforeStart can refuse the reload before anything starts', async () => {
  const journal: string[] = [];
  const { agent, factories } = await started(journal);
  let seen: unknown;
  await assert.rejects(
    agent.reload(
      pipeline(['src/a', 'src/b'], ['tag'], ['sink']),
      configs({ 'src/a': {}, 'src/b': {} }, { tag: {} }, { sink: {} }),
      factories,
      {
        beforeStart: (fresh) => {
          seen = fresh;
          throw new Error('no CAP_BPF');
        },
      },
    ),
    /no CAP_BPF/,
  );
  assert.deepEqual(seen, { receivers: 1, components: 1 });
  assert.deepEqual(journal, ['stop src/b#4']);
  await agent.shutdown();
});
