import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { Subject } from 'rxjs';
import type { Host } from '../../pipeline/component.ts';
import type { MetricBatch, RawFamily, RawPoint } from '../../pipeline/data.ts';
import { registerProcessMetrics } from '../../pipeline/process-metrics.ts';
import { SelfTelemetry } from '../../pipeline/telemetry.ts';
import { configSchema } from './config.ts';
import { PrometheusMetricsExporter } from './exporter.ts';
import { labelName, metricName } from './names.ts';
import { assertPromtoolAccepts } from '../../../test/helpers/promtool.ts';
import { testHost } from '../../../test/helpers/host.ts';
import { httpGet } from '../../../test/helpers/agent.ts';

const final = (labels: Record<string, string>, value: number): RawPoint => ({
  labels: Object.entries(labels).map(([name, v]) => ({ name, value: v, pending: [] })),
  value,
});

function counter(name: string, points: RawPoint[], help = 'h'): RawFamily {
  return { name, help, kind: 'counter', startTimeMs: 1_700_000_000_000, points };
}

function gauge(name: string, points: RawPoint[]): RawFamily {
  return { name, help: 'g', kind: 'gauge', startTimeMs: 1_700_000_000_000, points };
}

/** exp2 buckets 0..2 (bounds 1, 2, 4); key 3 carries the sum. */
function histogram(name: string, labels: Record<string, string>): RawFamily {
  const b = (bucket: number, value: number): RawPoint => final({ ...labels, bucket: String(bucket) }, value);
  return {
    name,
    help: 'a histogram',
    kind: 'histogram',
    histogram: { bucketType: 'exp2', bucketMin: 0, bucketMax: 2, bucketMultiplier: 1, bucketKeys: [] },
    startTimeMs: 1_700_000_000_000,
    points: [b(0, 1), b(2, 3), b(3, 20)],
  };
}

interface Rig {
  exporter: PrometheusMetricsExporter;
  host: Host & { pulls: number };
  telemetry: SelfTelemetry;
  input: Subject<MetricBatch>;
  logs: string[];
  port(): number;
}

function rig(pull: () => Promise<void> = async () => undefined, extra: Record<string, unknown> = {}): Rig {
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(line) });
  const config = configSchema.parse({ endpoint: '127.0.0.1:0', ...extra });
  const exporter = new PrometheusMetricsExporter(config, logger, 'prometheus');
  const telemetry = new SelfTelemetry();
  const counted = async (): Promise<void> => {
    host.pulls++;
    await pull();
  };
  const host = { ...testHost({ logger, telemetry, pull: counted }), pulls: 0 };
  const input = new Subject<MetricBatch>();
  exporter.consume(input);
  return { exporter, host, telemetry, input, logs, port: () => exporter.address?.port ?? 0 };
}

const promtool = assertPromtoolAccepts;

function typeLines(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('# TYPE '));
}

describe('prometheus names', () => {
  it('sanitizes metric names once: prefix, invalid characters, runs of _, leading digit, _total', () => {
    const cases: [string, string, 'counter' | 'gauge' | 'histogram', string][] = [
      ['timer_starts_total', 'ebpf_exporter', 'counter', 'ebpf_exporter_timer_starts_total'],
      ['timer_starts', 'ebpf_exporter', 'counter', 'ebpf_exporter_timer_starts_total'],
      ['bio.latency-seconds', 'ebpf_exporter', 'histogram', 'ebpf_exporter_bio_latency_seconds'],
      ['a:b', '', 'gauge', 'a_b'],
      ['9lives', '', 'gauge', '_9lives'],
      ['9lives', 'ns', 'gauge', 'ns_9lives'],
      ['_x', 'ns', 'gauge', 'ns_x'],
      ['été', '', 'gauge', '_t_'],
      ['...', '', 'gauge', ''],
    ];
    for (const [name, prefix, kind, want] of cases)
      assert.equal(metricName(name, prefix, kind), want, `${prefix}/${name}`);
  });

  it('sanitizes label names: no colons, leading digit gets _', () => {
    assert.equal(labelName('k8s.pod.name'), 'k8s_pod_name');
    assert.equal(labelName('a:b'), 'a_b');
    assert.equal(labelName('1st'), '_1st');
    assert.equal(labelName('__meta'), '_meta');
  });
});

describe('prometheus exporter', () => {
  it('self-metrics: ebpf_exporter’s under its names, the collector’s own under ebpf_collector_, empty families left out', async () => {
    const r = rig();
    await r.exporter.start(r.host);
    try {
      const t = r.telemetry;
      t.level = 'detailed'; // run statistics are detailed (telemetry-levels.ts)
      t.gauge('enabled_configs', 'The set of enabled configs').set({ name: 'timers' }, 1);
      t.gauge('ebpf_program_attached', 'Whether a program is attached').set({ id: '7' }, 1);
      t.counter('ebpf_program_run_time_seconds', 'How long has the program been executing').add(
        { id: '7' },
        1.5,
      );
      t.counter('ebpf_program_run_count_total', 'How many times has the program been executed');
      t.gauge('program_attached', 'ours').set(
        { config: 'timers', program: 'p', hook: 'tp_btf', reason: 'ok' },
        1,
      );
      t.gauge('map_entries', 'ours').set({ config: 'timers', map: 'm' }, 2);
      t.counter('dropped_perf_event_map_events_x_total', 'Dropped perf map events', { unprefixed: true }).add(
        {},
        0,
      );
      const { body } = await httpGet(r.port(), '/metrics');
      const types = typeLines(body);
      for (const want of [
        '# TYPE ebpf_exporter_enabled_configs gauge',
        '# TYPE ebpf_exporter_ebpf_program_attached gauge',
        '# TYPE ebpf_exporter_ebpf_program_run_time_seconds counter',
        '# TYPE ebpf_exporter_build_info gauge',
        '# TYPE ebpf_collector_program_attached gauge',
        '# TYPE ebpf_collector_map_entries gauge',
        '# TYPE dropped_perf_event_map_events_x_total counter',
      ])
        assert.ok(types.includes(want), `${want} in\n${types.join('\n')}`);
      assert.match(body, /^ebpf_exporter_ebpf_program_run_time_seconds\{id="7"\} 1\.5$/m);
      assert.match(body, /^ebpf_exporter_ebpf_program_attached\{id="7"\} 1$/m);
      assert.match(
        body,
        /^ebpf_collector_program_attached\{config="timers",program="p",hook="tp_btf",reason="ok"\} 1$/m,
      );
      // No series (run counts while kernel.bpf_stats_enabled=0): not written, as the Go client.
      assert.doesNotMatch(body, /ebpf_program_run_count_total/);
      assert.doesNotMatch(body, /run_time_seconds_total|^ebpf_exporter_(program_attached|map_entries)/m);
      assert.match(
        body,
        new RegExp(
          `^ebpf_exporter_build_info\\{branch="",goarch="[a-z0-9]+",goos="linux",goversion="node${process.versions.node.replace(/\./g, '\\.')}",revision="unknown",tags="unknown",version="\\d+\\.\\d+\\.\\d+[^"]*"\\} 1$`,
          'm',
        ),
      );
      assert.match(
        body,
        /^# HELP ebpf_exporter_build_info A metric with a constant '1' value labeled by version, revision, branch, goversion from which ebpf_exporter was built, and the goos and goarch for the build\.$/m,
      );
      // Valid exposition; promtool's only finding is the upstream name kept without _total.
      promtool(body);
    } finally {
      await r.exporter.shutdown();
    }
  });

  it('add_metric_suffixes: false (drop-in mode) writes a counter under its name, as ebpf_exporter', async () => {
    for (const [suffixes, want] of [
      [true, 'ebpf_exporter_bpf_jit_pages_currently_allocated_total'],
      [false, 'ebpf_exporter_bpf_jit_pages_currently_allocated'],
    ] as const) {
      const r = rig(async () => undefined, { add_metric_suffixes: suffixes });
      await r.exporter.start(r.host);
      try {
        r.input.next({
          source: 'ebpf/bpf-jit',
          config: 'bpf-jit',
          timeMs: Date.now(),
          families: [
            counter('bpf_jit_pages_currently_allocated', [final({}, 3)]),
            counter('timer_starts_total', [final({ function: 'f' }, 1)]),
          ],
        });
        const { body } = await httpGet(r.port(), '/metrics');
        assert.ok(typeLines(body).includes(`# TYPE ${want} counter`), body);
        assert.match(body, new RegExp(`^${want} 3$`, 'm'));
        assert.match(body, /^ebpf_exporter_timer_starts_total\{function="f"\} 1$/m);
        assert.doesNotMatch(body, /timer_starts_total_total/);
      } finally {
        await r.exporter.shutdown();
      }
    }
  });

  it('N concurrent scrapes are served from one collection (one pull)', async () => {
    const r = rig(() => delay(150));
    await r.exporter.start(r.host);
    try {
      r.input.next({
        source: 'ebpf/t',
        config: 't',
        timeMs: Date.now(),
        families: [counter('events_total', [final({ cpu: '0' }, 3)])],
      });
      const answers = await Promise.all(Array.from({ length: 8 }, () => httpGet(r.port(), '/metrics')));
      assert.equal(r.host.pulls, 1, 'one pull for eight parallel scrapes');
      for (const a of answers) {
        assert.equal(a.status, 200);
        assert.equal(a.body, answers[0]?.body, 'every scrape got the same exposition');
      }
      assert.match(answers[0]?.body ?? '', /^ebpf_exporter_events_total\{cpu="0"\} 3$/m);
      // One that comes within the collection's own duration after it shares it too.
      const soon = await httpGet(r.port(), '/metrics');
      assert.equal(r.host.pulls, 1, 'shared: it came right after');
      assert.equal(soon.body, answers[0]?.body);
      // After that window, the next scrape is a new collection.
      await delay(400);
      await httpGet(r.port(), '/metrics');
      assert.equal(r.host.pulls, 2);
      // Eleven scrapes so far; this one is counted once it is answered, so it shows ten.
      await delay(400);
      const again = await httpGet(r.port(), '/metrics');
      assert.match(
        again.body,
        /^ebpf_collector_prometheus_scrapes_total\{exporter="prometheus",code="200"\} 10$/m,
      );
      assert.match(
        again.body,
        /^ebpf_collector_collection_duration_seconds\{exporter="prometheus"\} [0-9.e-]+$/m,
      );
      assert.match(again.body, /^ebpf_collector_receiver_data_points\{receiver="ebpf\/t"\} 1$/m);
    } finally {
      await r.exporter.shutdown();
    }
  });

  it('a failed collection answers 500 (never 200 with an error comment) and is counted', async () => {
    const r = rig(async () => {
      throw new Error('map read failed');
    });
    await r.exporter.start(r.host);
    try {
      const answers = await Promise.all([httpGet(r.port(), '/metrics'), httpGet(r.port(), '/metrics')]);
      assert.deepEqual(
        answers.map((a) => a.status),
        [500, 500],
      );
      assert.match(answers[0]?.body ?? '', /map read failed/);
      assert.equal(
        r.telemetry.counter('prometheus_scrapes_total', '').value({ exporter: 'prometheus', code: '500' }),
        2,
      );
    } finally {
      await r.exporter.shutdown();
    }
  });

  it('tricky names: valid exposition (promtool), one TYPE block per name, collisions dropped, counted, logged once', async () => {
    const r = rig();
    const stopProcess = registerProcessMetrics(r.telemetry);
    await r.exporter.start(r.host);
    try {
      r.input.next({
        source: 'ebpf/a',
        config: 'a',
        timeMs: Date.now(),
        families: [
          counter('requests', [final({ 'k8s.pod': 'web-1', '1st': 'x' }, 1)], 'help with \\ and\nnewline'),
          counter('foo.bar', [final({}, 1)]),
          counter('foo_bar', [final({}, 2)]), // collides with foo.bar → dropped
          gauge('9lives', [final({ 'a:b': 'v' }, 9)]),
          counter('labels', [final({ 'k8s.pod': 'a', k8s_pod: 'b' }, 1)]), // label collision → dropped
          histogram('lat', { disk: 'sda' }),
          gauge('lat_count', [final({}, 1)]), // lat's _count series → dropped
          histogram('bad_hist', { le: '5' }), // user label le → dropped
          counter('shared_total', [final({ cpu: '0' }, 1)]),
        ],
      });
      r.input.next({
        source: 'ebpf/b',
        config: 'b',
        timeMs: Date.now(),
        // Same metric from a second source: one family; the same series again is a duplicate.
        families: [counter('shared_total', [final({ cpu: '1' }, 5), final({ cpu: '0' }, 7)])],
      });
      const first = await httpGet(r.port(), '/metrics');
      assert.equal(first.status, 200);
      const text = first.body;
      promtool(text);

      const types = typeLines(text);
      assert.equal(new Set(types.map((l) => l.split(' ')[2])).size, types.length, `duplicate TYPE:\n${text}`);
      assert.match(text, /^# HELP ebpf_exporter_requests_total help with \\\\ and\\nnewline$/m);
      assert.match(text, /^# TYPE ebpf_exporter_requests_total counter$/m);
      assert.match(text, /^ebpf_exporter_requests_total\{k8s_pod="web-1",_1st="x"\} 1$/m);
      assert.match(text, /^ebpf_exporter_foo_bar_total 1$/m);
      assert.doesNotMatch(text, /^ebpf_exporter_foo_bar_total 2$/m);
      assert.match(text, /^ebpf_exporter_9lives\{a_b="v"\} 9$/m);
      assert.doesNotMatch(text, /ebpf_exporter_labels_total/);
      assert.match(text, /^# TYPE ebpf_exporter_lat histogram$/m);
      assert.match(text, /^ebpf_exporter_lat_count\{disk="sda"\} 4$/m);
      assert.doesNotMatch(text, /^# TYPE ebpf_exporter_lat_count/m);
      assert.doesNotMatch(text, /ebpf_exporter_bad_hist/);
      assert.match(text, /^ebpf_exporter_shared_total\{cpu="0"\} 1$/m);
      assert.match(text, /^ebpf_exporter_shared_total\{cpu="1"\} 5$/m);
      assert.doesNotMatch(text, /^ebpf_exporter_shared_total\{cpu="0"\} 7$/m);

      // Process metrics keep their standard names, without the namespace.
      for (const name of [
        'process_resident_memory_bytes',
        'process_cpu_seconds_total',
        'process_start_time_seconds',
        'nodejs_eventloop_lag_seconds',
      ])
        assert.match(text, new RegExp(`^${name} [0-9.e+-]+$`, 'm'), name);
      assert.match(text, /^# TYPE process_cpu_seconds_total counter$/m);

      const second = await httpGet(r.port(), '/metrics');
      promtool(second.body);
      const dropped = (reason: string): number | undefined =>
        r.telemetry.counter('prometheus_dropped_series_total', '').value({ exporter: 'prometheus', reason });
      assert.equal(dropped('name_collision'), 4, 'foo_bar and lat_count, on each of two scrapes');
      assert.equal(dropped('label_collision'), 2);
      assert.equal(dropped('reserved_label'), 2);
      assert.equal(dropped('duplicate_series'), 2);
      assert.match(
        second.body,
        /^ebpf_collector_prometheus_dropped_series_total\{exporter="prometheus",reason="name_collision"\} 2$/m,
        'the scrape shows the count of the collection before it',
      );
      const errors = r.logs.filter((l) => l.includes('ERR_PROMETHEUS_NAME'));
      assert.equal(errors.length, 5, `each problem logged once:\n${errors.join('')}`);
      assert.ok(
        errors.some((l) =>
          l.includes(
            'metric \\"foo_bar\\" (counter) is exposed as ebpf_exporter_foo_bar_total, which collides with metric \\"foo.bar\\"',
          ),
        ),
        errors.join(''),
      );
    } finally {
      stopProcess();
      await r.exporter.shutdown();
    }
  });
});

describe('prometheus exporter: resource_to_telemetry_conversion', () => {
  const batches = (): MetricBatch[] => [
    {
      source: 'ebpf/a',
      config: 'a',
      timeMs: Date.now(),
      families: [counter('events_total', [final({ cpu: '0', zone: 'own' }, 3)])],
      resource: { 'k8s.cluster.name': 'eu-1', zone: 'resource', '9.x': 'y', 'k8s-cluster.name': 'later' },
    },
    {
      source: 'ebpf/b',
      config: 'b',
      timeMs: Date.now(),
      families: [histogram('lat_seconds', { disk: 'sda' })],
      resource: { 'k8s.cluster.name': 'us-2' },
    },
    {
      source: 'ebpf/c',
      config: 'c',
      timeMs: Date.now(),
      families: [gauge('plain', [final({ k: 'v' }, 1)])],
    },
  ];

  it('off (the default): resource attributes are not labels', async () => {
    const r = rig();
    await r.exporter.start(r.host);
    try {
      for (const b of batches()) r.input.next(b);
      const { body } = await httpGet(r.port(), '/metrics');
      assert.match(body, /^ebpf_exporter_events_total\{cpu="0",zone="own"\} 3$/m);
      assert.doesNotMatch(body, /k8s_cluster_name/);
    } finally {
      await r.exporter.shutdown();
    }
  });

  it('on: every series of a batch gets its resource, sanitized; point labels win; others untouched', async () => {
    const r = rig(undefined, { resource_to_telemetry_conversion: true });
    await r.exporter.start(r.host);
    try {
      for (const b of batches()) r.input.next(b);
      const { status, body } = await httpGet(r.port(), '/metrics');
      assert.equal(status, 200);
      promtool(body);
      assert.match(
        body,
        /^ebpf_exporter_events_total\{_9_x="y",k8s_cluster_name="later",cpu="0",zone="own"\} 3$/m,
      );
      assert.match(
        body,
        /^ebpf_exporter_lat_seconds_bucket\{k8s_cluster_name="us-2",disk="sda",le="1"\} 1$/m,
      );
      assert.match(body, /^ebpf_exporter_lat_seconds_count\{k8s_cluster_name="us-2",disk="sda"\} 4$/m);
      assert.match(body, /^ebpf_exporter_plain\{k="v"\} 1$/m);
      assert.doesNotMatch(
        body,
        /receiver_data_points\{[^}]*k8s_cluster_name/,
        'self-metrics have no resource',
      );
    } finally {
      await r.exporter.shutdown();
    }
  });
});
