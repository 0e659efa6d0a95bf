import { Subject } from 'rxjs';
import {
  nextRecord,
  RECORD_HEADER_BYTES,
  type BpfObject,
  type PerfBuffer,
  type RecordBatch,
  type RingBuffer,
} from '../../native/index.ts';
import type {
  HistogramSpec,
  LogBatch,
  LogRecordData,
  RawFamily,
  SpanBatch,
  SpanRecord,
} from '../../pipeline/data.ts';
import type { SelfFamily, SelfTelemetry } from '../../pipeline/telemetry.ts';
import type { Decoder, DecoderRegistry } from '../../decoders/decoder.ts';
import { cgroupDecoder } from '../../decoders/cgroup.ts';
import { CgroupTable, findCgroup2Mount } from '../../kernel/cgroup-table.ts';
import { monotonicToWallOffsetNs, type DecodeStats, type InlineSink, type Sink } from './events-labels.ts';
import { EventCounter, EventHistogram, UNBOUNDED, type SeriesBounds } from './events-metrics.ts';
import { LogSink, SpanSink } from './events-sinks.ts';
import { RecordQueue } from './events-queue.ts';

// Importers and tests use './events.ts': the parts split into events-*.ts are re-exported here.
export { monotonicToWallOffsetNs } from './events-labels.ts';
export { bucketOf } from './events-metrics.ts';
export { RecordQueue } from './events-queue.ts';
export { checkEventLayout, checkRingSizes, eventMapsOf } from './events-layout.ts';
export type { EventDefinitions, EventsConfig } from './events-layout.ts';
import type { EventDefinitions, EventsConfig } from './events-layout.ts';

/**
 * Event streams of one loaded object: ring buffers and perf event arrays read
 * as records, decoded with the label model of map keys, and turned into
 *   - counters and histograms (ebpf_exporter's `perf_event_array: true`
 *     counters, our `events:` counters and histograms), emitted with the
 *     receiver's MetricBatch on every read;
 *   - spans (ebpf_exporter's `tracing.spans`) on `spans$`;
 *   - log records (our `logs:`) on `logs$`.
 *
 * Flow and bounds: the native drain (a timer every `drain_interval`, plus
 * epoll wake-ups) hands over its records in one batch (one buffer, records
 * read in place with a DataView). Counters and histograms take each record at
 * once (a map lookup by its raw label bytes; each distinct key is decoded
 * once), so they never drop. For spans and log records it is copied into a
 * per-map bounded queue; they are built in turns of at most `batch_size`
 * records, yielding to the event loop between turns (setImmediate). A full queue drops records
 * (`overflow`: the newest or the oldest) and counts them. Memory is bounded by
 * queue_size × record size per map, whatever the event rate; a slow
 * subscriber slows the turns, fills the queue and causes counted drops,
 * never unbounded growth. Kernel-side losses are counted too: perf lost
 * samples, and ring reserve failures from the `<ring>_drops` map that
 * bpf/include/events.bpf.h declares beside each EVENT_RING.
 */

interface Stream {
  readonly map: string;
  readonly kind: 'ringbuf' | 'perf_event_array';
  /** Counters and histograms: O(1) per record (decoded once per distinct key), run at drain time. */
  readonly inline: InlineSink[];
  /** Spans and log records: built per record and handed to subscribers, through the bounded queue. */
  readonly sinks: Sink[];
  readonly queue: RecordQueue;
  source?: RingBuffer | PerfBuffer;
  received: number;
  /** Perf: counters with perf_event_array: true reading this map (dropped_perf_event_map_events_<name>). */
  readonly dropInCounters: string[];
}

export interface EventStreamsOptions {
  readonly id: string;
  readonly config: string;
  readonly events: EventsConfig;
  /** Series budget and idle expiry of event-derived metrics (the receiver's max_series and series_idle_expiry); absent: unbounded. */
  readonly series?: { readonly maxSeries: number; readonly idleExpiryMs: number } | undefined;
  /** Decoders for metric labels (processor-supplied ones stay pending). */
  readonly metricRegistry: DecoderRegistry;
  /**
   * Decoders for span and log labels: every one (no processor runs on them in
   * traces/logs pipelines). Their `cgroup` decoder is replaced by one over an
   * inotify-kept cgroup2 table this object owns while started.
   */
  readonly eventRegistry: DecoderRegistry;
  readonly onDecodeErrors: (count: number, last: string | undefined) => void;
  readonly onError: (message: string, err: unknown) => void;
  /** The first record of a metric beyond its series budget (logged once per metric). */
  readonly onSeriesOverflow?: ((metric: string, maxSeries: number) => void) | undefined;
}

export class EventStreams {
  private readonly opts: EventStreamsOptions;
  private readonly streams = new Map<string, Stream>();
  private readonly counters: EventCounter[] = [];
  private readonly histograms: EventHistogram[] = [];
  private readonly pendingSpans: SpanRecord[] = [];
  private readonly pendingLogs: LogRecordData[] = [];
  private readonly spanSubject = new Subject<SpanBatch>();
  private readonly logSubject = new Subject<LogBatch>();
  readonly spans$ = this.spanSubject.asObservable();
  readonly logs$ = this.logSubject.asObservable();
  private scheduled: ReturnType<typeof setImmediate> | undefined;
  private stopped = false;
  /** Decode errors of the inline (metric) sinks since the last turn. */
  private inlineStats: DecodeStats = { errors: 0 };
  /** cgroup2 id → path for span and log labels (only when one uses the cgroup decoder). */
  private cgroupTable: CgroupTable | undefined;
  private object: BpfObject | undefined;
  private self:
    | {
        received: SelfFamily;
        kernelDropped: SelfFamily;
        dropped: SelfFamily;
        queued: SelfFamily;
        overflow: SelfFamily;
        dropIn: Map<string, SelfFamily>;
      }
    | undefined;

  constructor(defs: EventDefinitions, hook: string | undefined, opts: EventStreamsOptions) {
    this.opts = opts;
    const offset = monotonicToWallOffsetNs();
    const inSet = (hooks: readonly string[] | undefined): boolean =>
      hook === undefined || hooks === undefined || hooks.includes(hook);
    const stream = (map: string): Stream => {
      let s = this.streams.get(map);
      if (!s) {
        s = {
          map,
          kind: 'ringbuf',
          inline: [],
          sinks: [],
          queue: new RecordQueue(opts.events.queue_size, opts.events.overflow === 'drop_oldest'),
          received: 0,
          dropInCounters: [],
        };
        this.streams.set(map, s);
      }
      return s;
    };
    for (const c of defs.metrics.counters ?? []) {
      if (!inSet(c.hooks)) continue;
      const map = c.perf_event_array ? c.name : c.events;
      if (map === undefined) continue;
      const counter = new EventCounter(
        c,
        c.flush_interval,
        c.perf_event_array === true,
        opts.metricRegistry,
        this.boundsOf(c.max_series),
      );
      this.counters.push(counter);
      const s = stream(map);
      s.inline.push(counter);
      if (c.perf_event_array) s.dropInCounters.push(c.name);
    }
    for (const h of defs.metrics.histograms ?? []) {
      if (h.events === undefined || h.value === undefined || !inSet(h.hooks)) continue;
      const spec: HistogramSpec = {
        bucketType: h.bucket_type,
        bucketMin: h.bucket_min ?? 0,
        bucketMax: h.bucket_max ?? 0,
        bucketMultiplier: h.bucket_multiplier ?? 1,
        bucketKeys: h.bucket_keys ?? [],
      };
      const hist = new EventHistogram(
        { ...h, value: h.value },
        spec,
        opts.metricRegistry,
        this.boundsOf(h.max_series),
      );
      this.histograms.push(hist);
      stream(h.events).inline.push(hist);
    }
    const eventLabels = [...defs.spans, ...defs.logs].flatMap((d) => d.labels ?? []);
    let eventRegistry = opts.eventRegistry;
    if (eventLabels.some((l) => l.decoders.some((d) => d.name === 'cgroup'))) {
      const root = findCgroup2Mount();
      if (root !== undefined) {
        this.cgroupTable = new CgroupTable({
          root,
          deletedGraceMs: 300_000,
          rescanIntervalMs: 1_000,
          maxWatches: 16_384,
          maxDeleted: 65_536,
        });
        const table = this.cgroupTable;
        const withTable = new Map<string, Decoder>(opts.eventRegistry);
        withTable.set(
          'cgroup',
          cgroupDecoder(() => table),
        );
        eventRegistry = withTable;
      }
    }
    for (const sp of defs.spans)
      stream(sp.ringbuf).sinks.push(new SpanSink(sp, eventRegistry, offset, this.pendingSpans));
    for (const l of defs.logs)
      stream(l.map).sinks.push(new LogSink(l, eventRegistry, offset, this.pendingLogs));
  }

  /** The series budget of one metric: its own max_series, else the receiver's. */
  private boundsOf(maxSeries: number | undefined): SeriesBounds {
    const series = this.opts.series ?? UNBOUNDED;
    return {
      maxSeries: maxSeries ?? series.maxSeries,
      idleExpiryMs: series.idleExpiryMs,
      onOverflow: this.opts.onSeriesOverflow,
    };
  }

  get empty(): boolean {
    return this.streams.size === 0;
  }

  get hasSpans(): boolean {
    return [...this.streams.values()].some((s) => s.sinks.some((k) => k instanceof SpanSink));
  }

  get hasLogs(): boolean {
    return [...this.streams.values()].some((s) => s.sinks.some((k) => k instanceof LogSink));
  }

  /** Open every stream's ring or perf buffer. Throws (CollectorError) when one cannot be opened. */
  start(object: BpfObject, telemetry: SelfTelemetry): void {
    this.object = object;
    try {
      this.cgroupTable?.start();
    } catch (err) {
      this.opts.onError('cgroup table for event labels unavailable: cgroup ids stay unknown', err);
    }
    this.self = {
      received: telemetry.counter(
        'events_received_total',
        'Event records read from the kernel, by config and map',
      ),
      kernelDropped: telemetry.counter(
        'events_kernel_dropped_total',
        'Event records the kernel could not deliver: ring reserve failures (<ring>_drops) and perf lost samples',
      ),
      dropped: telemetry.counter(
        'events_dropped_total',
        'Event records dropped in the agent because the decode queue was full (a slow consumer)',
      ),
      queued: telemetry.gauge(
        'events_queue_length',
        'Event records waiting to be decoded, by config and map',
      ),
      overflow: telemetry.counter(
        'series_budget_overflow_total',
        'Event records of new label sets beyond a metric\'s series budget (max_series), counted in its otel_metric_overflow="true" series instead',
      ),
      dropIn: new Map(),
    };
    for (const m of [...this.counters, ...this.histograms])
      this.self.overflow.add({ config: this.opts.config, metric: m.name }, 0);
    const maps = new Map(object.maps().map((m) => [m.name, m]));
    const { config } = this.opts;
    for (const s of this.streams.values()) {
      const labels = { config, map: s.map };
      this.self.received.add(labels, 0);
      this.self.dropped.add({ ...labels, reason: 'queue_full' }, 0);
      const info = maps.get(s.map);
      const inline = s.inline;
      const queued = s.sinks.length > 0;
      // One call per drain: records read in place from the batch, none made into an object.
      const onBatch = ({ count, start, bytes, view }: RecordBatch): void => {
        // Imported and captured bindings in locals: read in the loop, each is a module cell or
        // context load with a hole check per record.
        const header = RECORD_HEADER_BYTES;
        const next = nextRecord;
        const sinks = inline;
        const queue = queued ? s.queue : undefined;
        let at = start;
        const stats = this.inlineStats;
        s.received += count;
        for (let i = 0; i < count; i++) {
          const len = view.getUint32(at, true);
          const from = at + header;
          try {
            for (let k = 0; k < sinks.length; k++)
              (sinks[k] as InlineSink).onRecordAt(bytes, view, from, len, stats);
          } catch (err) {
            // Sinks count their own failures: this is a defect, still counted, never lost.
            stats.errors++;
            stats.last = `map ${s.map}: ${(err as Error).message}`;
          }
          if (queue !== undefined) queue.pushFrom(bytes, from, len);
          at = next(at, len);
        }
        if (queued || stats.errors > 0) this.schedule(); // decode errors are reported by the next turn
      };
      const handler = { onBatch };
      if (info?.type === 'perf_event_array') {
        (s as { kind: Stream['kind'] }).kind = 'perf_event_array';
        this.self.kernelDropped.add({ ...labels, reason: 'lost' }, 0);
        for (const name of s.dropInCounters) {
          // ebpf_exporter's own name, without the namespace prefix.
          const f = telemetry.counter(`dropped_perf_event_map_events_${name}`, 'Dropped perf map events', {
            unprefixed: true,
          });
          f.add({}, 0);
          this.self.dropIn.set(name, f);
        }
        s.source = object.perfBuffer(s.map, handler, {
          pageCount: this.opts.events.perf_buffer_pages,
          drainIntervalMs: this.opts.events.drain_interval,
        });
      } else {
        if (maps.has(`${s.map}_drops`)) this.self.kernelDropped.add({ ...labels, reason: 'reserve' }, 0);
        s.source = object.ringBuffer(s.map, handler, { drainIntervalMs: this.opts.events.drain_interval });
      }
    }
  }

  private schedule(): void {
    if (this.scheduled !== undefined || this.stopped) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      this.turn();
    });
  }

  /** Decode at most batch_size records (round-robin over maps), emit spans and logs, yield. */
  private turn(): void {
    if (this.stopped) return;
    const stats: DecodeStats = this.inlineStats;
    this.inlineStats = { errors: 0 };
    let budget = this.opts.events.batch_size;
    let more = true;
    while (budget > 0 && more) {
      more = false;
      for (const s of this.streams.values()) {
        const share = Math.max(1, Math.floor(budget / this.streams.size));
        for (let i = 0; i < share && budget > 0; i++) {
          const record = s.queue.shift();
          if (!record) break;
          budget--;
          for (const sink of s.sinks) sink.onRecord(record, stats);
        }
        if (s.queue.length > 0) more = true;
      }
    }
    if (stats.errors > 0) this.opts.onDecodeErrors(stats.errors, stats.last);
    this.emit();
    if ([...this.streams.values()].some((s) => s.queue.length > 0)) this.schedule();
  }

  private emit(): void {
    const { id, config } = this.opts;
    if (this.pendingSpans.length > 0) {
      const spans = this.pendingSpans.splice(0);
      for (const sp of spans) (sp.attributes as Record<string, string>)['ebpf_exporter.config'] = config;
      try {
        this.spanSubject.next({ source: id, config, spans });
      } catch (err) {
        this.opts.onError('traces pipeline failed on a batch', err);
      }
    }
    if (this.pendingLogs.length > 0) {
      const records = this.pendingLogs.splice(0);
      try {
        this.logSubject.next({ source: id, config, records });
      } catch (err) {
        this.opts.onError('logs pipeline failed on a batch', err);
      }
    }
  }

  /** Counters and histograms from events, for the receiver's MetricBatch; refreshes the self-metrics. */
  families(): RawFamily[] {
    this.refreshStats();
    const now = Date.now();
    return [...this.counters.map((c) => c.family(now)), ...this.histograms.map((h) => h.family(now))];
  }

  /** Drain every buffer now and decode everything queued (tests, shutdown). */
  flush(): void {
    for (const s of this.streams.values()) s.source?.consume();
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.turn();
    while ([...this.streams.values()].some((s) => s.queue.length > 0) && !this.stopped) this.turn();
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
  }

  /** Per-map counts: received, kernel drops, queue drops, queued. */
  stats(): Record<string, { received: number; kernelDropped: number; dropped: number; queued: number }> {
    const out: Record<string, { received: number; kernelDropped: number; dropped: number; queued: number }> =
      {};
    for (const s of this.streams.values())
      out[s.map] = {
        received: s.received,
        kernelDropped: this.kernelDrops(s),
        dropped: s.queue.dropped,
        queued: s.queue.length,
      };
    return out;
  }

  private kernelDrops(s: Stream): number {
    if (s.kind === 'perf_event_array') return (s.source as PerfBuffer | undefined)?.lost ?? 0;
    if (!this.object || this.object.closed) return 0;
    try {
      const drops = this.object.maps().find((m) => m.name === `${s.map}_drops`);
      if (!drops) return 0;
      const batch = this.object.map(drops.name).readAll();
      let n = 0;
      const step = Math.ceil(drops.valueSize / 8) * 8;
      for (let i = 0; i < batch.count; i++)
        for (let c = 0; c < drops.numCpus; c++)
          n += Number(batch.values.readBigUInt64LE(i * drops.valueStride + c * step));
      return n;
    } catch {
      return 0;
    }
  }

  private refreshStats(): void {
    const self = this.self;
    if (!self) return;
    const { config } = this.opts;
    for (const m of [...this.counters, ...this.histograms])
      self.overflow.set({ config, metric: m.name }, m.overflowed);
    for (const s of this.streams.values()) {
      const labels = { config, map: s.map };
      self.received.set(labels, s.received);
      self.dropped.set({ ...labels, reason: 'queue_full' }, s.queue.dropped);
      self.queued.set(labels, s.queue.length);
      const k = this.kernelDrops(s);
      if (s.kind === 'perf_event_array') {
        self.kernelDropped.set({ ...labels, reason: 'lost' }, k);
        for (const name of s.dropInCounters) self.dropIn.get(name)?.set({}, k);
      } else if (this.object?.maps().some((m) => m.name === `${s.map}_drops`)) {
        self.kernelDropped.set({ ...labels, reason: 'reserve' }, k);
      }
    }
  }

  /** Close every buffer (before the object closes) and complete the streams. Safe twice. */
  stop(): void {
    if (this.stopped) return;
    this.refreshStats();
    this.stopped = true;
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    for (const s of this.streams.values()) {
      s.source?.close();
      s.queue.clear();
    }
    if (this.self) {
      for (const f of [this.self.queued]) f.remove({ config: this.opts.config });
    }
    this.object = undefined;
    this.cgroupTable?.stop();
    this.spanSubject.complete();
    this.logSubject.complete();
  }
}
