import { Subject, type Observable } from 'rxjs';
import type { Logger } from 'pino';
import { CollectorError, messageOf } from '../../errors.ts';
import type { BpfObject, MapInfo } from '../../native/index.ts';
import type { CheckReport, ComponentHealth, Host, Receiver } from '../../pipeline/component.ts';
import type { LogBatch, MetricBatch, RawFamily, SpanBatch } from '../../pipeline/data.ts';
import type { SelfFamily } from '../../pipeline/telemetry.ts';
import { allDecoders, processorDecoders } from '../../decoders/index.ts';
import type { DecoderRegistry } from '../../decoders/decoder.ts';
import { sharedKallsyms } from '../../kernel/kallsyms.ts';
import { defaultHookOrder, type EbpfReceiverConfig } from './config.ts';
import {
  attachFamilies,
  attachHealth,
  logAttach,
  recordAttach,
  type AttachFamilies,
  type AttachSubject,
} from './attach-report.ts';
import {
  collectionRuns,
  loadWithFallback,
  runAtCollection,
  type CollectionRun,
  type HookAttempt,
  type LoadOutcome,
} from './loader.ts';
import { checkCgroupIdMap, CgroupIdMap } from './cgroup-id-map.ts';
import { MapUpkeep } from './map-upkeep.ts';
import { ProgramStats } from './program-stats.ts';
import { checkEventLayout, checkRingSizes, EventStreams, type EventDefinitions } from './events.ts';
import { checkLayout, checkMapSize, definitionsOf, unknownHookSets } from './definitions.ts';
import { MetricReader, type ReadStats } from './reader.ts';
import { groupReaders, type MetricGroup } from './summed.ts';
import type { ResolvedProgram } from './resolve.ts';
import { definitionsKey, noHookError } from './load-errors.ts';

/**
 * Decoders the receiver runs itself: all of ebpf_exporter's but those a
 * processor supplies (`processorDecoders`), which stay pending in the batch.
 * Their resources (kallsyms for kstack, the cgroup tree, pci.ids) load on first use.
 */
const registry: DecoderRegistry = (() => {
  const all = allDecoders();
  for (const supplied of processorDecoders.keys()) all.delete(supplied);
  return all;
})();
/** Entries per map in the /maps dump: it is for reading by a person, and bounded. */
const MAX_DUMP_ROWS = 1000;
/** Span and log labels (and the /maps dump): no processor runs on them, so every decoder runs here. */
let fullRegistry: DecoderRegistry | undefined;

export class EbpfReceiver implements Receiver {
  readonly id: string;
  private readonly config: EbpfReceiverConfig;
  private readonly program: ResolvedProgram;
  private readonly logger: Logger;
  private readonly subject = new Subject<MetricBatch>();
  readonly output$ = this.subject.asObservable();
  private readonly spanSubject = new Subject<SpanBatch>();
  private readonly logSubject = new Subject<LogBatch>();
  /** Present when the definitions have `tracing.spans` / `logs` (traces / logs pipelines). */
  readonly spans$?: Observable<SpanBatch>;
  readonly logs$?: Observable<LogBatch>;
  /** Ring buffers and perf event arrays being read (undefined before start or without event definitions). */
  events: EventStreams | undefined;
  /** The cgroup_id_map kept (undefined before start or without one). */
  cgroupIdMap: CgroupIdMap | undefined;
  private object: BpfObject | undefined;
  private readers: MetricReader[] = [];
  /** The readers by metric (summed.ts): several when a metric sums several maps. */
  private groups: MetricGroup[] = [];
  /** Update failures and dead cgroups' keys (undefined before start). */
  private upkeep: MapUpkeep | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private decoderErrors: SelfFamily | undefined;
  private readErrors: SelfFamily | undefined;
  private stats: ProgramStats | undefined;
  /** The hook set chosen at start ('' when the object has no sets). */
  hook: string | undefined;
  attempts: readonly HookAttempt[] = [];
  /** Set once a load was tried at start (health: not started before). */
  private loaded = false;
  private attachSeries: AttachFamilies | undefined;
  private enabledConfigs: SelfFamily | undefined;
  /** Every hook set the object declares. */
  private sets: readonly string[] = [];
  /** iter/ and syscall programs of the chosen set, run before every read (loader.ts collectionRuns). */
  private runs: CollectionRun[] = [];
  /** The loaded programs' info (id, tag) as read at the first poll. */
  /** Programs of the chosen hook set by name: whether each is attached. */
  private attachedPrograms = new Map<string, boolean>();
  /** Date.now() of the last map read (timer or pull). */
  private lastPollMs = 0;
  /** kaddrs symbols not in /proc/kallsyms at the last load. */
  private missingKaddrs: string[] = [];

  constructor(id: string, config: EbpfReceiverConfig, program: ResolvedProgram, logger: Logger) {
    this.id = id;
    this.config = config;
    this.program = program;
    this.logger = logger;
    if (program.spans.length > 0) this.spans$ = this.spanSubject.asObservable();
    if (program.logs.length > 0) this.logs$ = this.logSubject.asObservable();
  }

  private eventDefinitions(): EventDefinitions {
    return { metrics: this.program.metrics, spans: this.program.spans, logs: this.program.logs };
  }

  private startEvents(object: BpfObject, host: Host): void {
    const events = new EventStreams(this.eventDefinitions(), this.hook ?? '', {
      id: this.id,
      config: this.configName,
      events: this.config.events,
      series: { maxSeries: this.config.max_series, idleExpiryMs: this.config.series_idle_expiry },
      metricRegistry: registry,
      eventRegistry: (fullRegistry ??= allDecoders()),
      onDecodeErrors: (count, last) => {
        this.decoderErrors?.add({ config: this.configName }, count);
        this.logger.warn({ count, last }, 'event records dropped by decode errors');
      },
      onError: (message, err) => this.logger.error({ err: messageOf(err) }, message),
      onSeriesOverflow: (metric, maxSeries) =>
        this.logger.warn(
          { metric, max_series: maxSeries },
          `metric ${metric} reached its series budget: records of new label sets are counted in its otel_metric_overflow="true" series (series_budget_overflow_total); raise max_series on the receiver or the metric to keep more`,
        ),
    });
    if (events.empty) return;
    events.spans$.subscribe(this.spanSubject);
    events.logs$.subscribe(this.logSubject);
    this.events = events;
    events.start(object, host.telemetry);
  }

  /** Decoders the metric labels use that this receiver cannot run itself (a processor supplies them). */
  get pendingDecoders(): string[] {
    const m = this.program.metrics;
    const labels = [...(m.counters ?? []), ...(m.gauges ?? []), ...(m.histograms ?? [])].flatMap(
      (d) => d.labels ?? [],
    );
    return [...new Set(labels.flatMap((l) => l.decoders.map((d) => d.name)).filter((n) => !registry.has(n)))];
  }

  /** The BPF object and the metric definitions file (a reload makes the receiver again when one changed). */
  files(): string[] {
    const source = this.program.metricsSource;
    return source === 'inline' ? [this.program.objectPath] : [this.program.objectPath, source];
  }

  /** The config name as ebpf_exporter reports it (`timers` for ebpf/timers or program timers). */
  get configName(): string {
    return this.program.name;
  }

  async start(host: Host): Promise<void> {
    const t = host.telemetry;
    // ebpf_exporter's names and help (exporter/exporter.go) where it has the metric; the
    // prometheus exporter's self-names.ts says how each is exposed.
    this.attachSeries = attachFamilies(t);
    this.enabledConfigs = t.gauge('enabled_configs', 'The set of enabled configs');
    this.enabledConfigs.set({ name: this.configName }, 1);
    this.decoderErrors = t.counter('decoder_errors_total', 'How many times has decoders encountered errors');
    this.decoderErrors.add({ config: this.configName }, 0);
    this.readErrors = t.counter('map_read_errors_total', 'Map reads that failed, by config and map');
    this.stats = new ProgramStats(t, this.configName);

    const outcome = this.load();
    this.loaded = true;
    recordAttach(this.attachSeries, this.attachSubject, outcome.attempts);
    if (!outcome.object && this.config.strict)
      throw noHookError(this.id, this.configName, this.config, outcome.attempts);
    logAttach(this.logger, this.attachSubject, outcome.attempts);
    if (!outcome.object) return;
    this.object = outcome.object;
    this.hook = outcome.hook;
    const chosen = outcome.attempts.find((a) => a.ok);
    this.attachedPrograms = new Map(chosen?.attached.map((r) => [r.program, r.attached]) ?? []);
    this.runs = chosen ? collectionRuns(outcome.object, chosen) : [];
    try {
      this.strictCheck(outcome.attempts);
      this.bindReaders(outcome.object);
      const defs = this.readers.map((r) => r.def);
      const grace = this.config.removed_cgroup_grace;
      const hold = this.config.poll_interval;
      this.upkeep = new MapUpkeep(outcome.object, defs, t, this.configName, this.logger, grace, hold);
      this.startCgroupIdMap(outcome.object);
      this.startEvents(outcome.object, host);
    } catch (err) {
      await this.shutdown();
      throw err;
    }
    // A pull (a scrape, an OTLP collection) reads the maps too: the timer reads
    // only when none did within the last interval (less 10 % for timer jitter).
    const fresh = this.config.poll_interval * 0.9;
    this.timer = setInterval(() => {
      if (Date.now() - this.lastPollMs >= fresh) this.poll();
    }, this.config.poll_interval);
    this.poll();
  }

  /** ebpf_exporter's cgroup_id_map: filled now and kept current until shutdown. */
  private startCgroupIdMap(object: BpfObject): void {
    const config = this.program.cgroupIdMap;
    if (!config) return;
    this.cgroupIdMap = new CgroupIdMap(config, object.map(config.name), this.logger);
    this.cgroupIdMap.start();
  }

  /**
   * validate --load: load, attach and check the definitions against the maps, then close.
   * Reports every program of the chosen hook set: attached, or not and why.
   */
  async check(): Promise<CheckReport> {
    const outcome = this.load();
    if (!outcome.object && !this.config.optional)
      throw noHookError(this.id, this.configName, this.config, outcome.attempts);
    logAttach(this.logger, this.attachSubject, outcome.attempts);
    if (!outcome.object) return { programs: [] };
    try {
      this.strictCheck(outcome.attempts);
      this.readersFor(outcome.object, outcome.hook ?? '');
    } finally {
      outcome.object.close();
    }
    const chosen = outcome.attempts.find((a) => a.ok);
    return {
      programs: (chosen?.attached ?? []).map((r) => ({
        program: `${this.configName}:${r.program}`,
        section: r.section,
        attached: r.attached,
        ...(r.attached ? {} : { reason: r.error ?? 'failed' }),
      })),
    };
  }

  private get attachSubject(): AttachSubject {
    return { config: this.configName, id: this.id, optional: this.config.optional };
  }

  /** Ready when its program runs on a hook set with every program attached, or it is optional. */
  health(): ComponentHealth {
    return attachHealth(this.attachSubject, this.loaded ? this.attempts : undefined, this.stopped);
  }

  /** Open and choose a hook set, load and attach (start logs the attempts: attach-report.ts). */
  private load(): LoadOutcome {
    const globals = this.globals();
    let outcome: LoadOutcome;
    try {
      outcome = loadWithFallback({
        path: this.program.objectPath,
        openOptions: this.config.btf_path ? { btfPath: this.config.btf_path } : {},
        globals,
        missingKaddrs: this.missingKaddrs,
        hookOrder: this.config.hooks ?? defaultHookOrder,
        binaries: this.config.binaries,
        checkMaps: (maps) => this.checkMapSizes(maps),
      });
    } catch (err) {
      throw this.keyed(err, 'program');
    }
    this.attempts = outcome.attempts;
    this.sets = outcome.sets;
    return outcome;
  }

  /**
   * The error with the key path of the receiver key it comes from (`receivers.<id>.<key>`):
   * the service turns the path into the key's file:line:col (AgentConfig.place).
   */
  private keyed(err: unknown, key: string): unknown {
    if (!(err instanceof CollectorError) || err.position !== undefined) return err;
    const prefix = `receivers.${this.id}`;
    if (err.path?.startsWith(`${prefix}.`)) return err;
    return new CollectorError(err.code, err.message, {
      path: `${prefix}.${err.path ?? key}`,
      details: err.details,
      cause: err.cause ?? err,
    });
  }

  /**
   * Before load: no metric reads a map too large to read at every collection (LIMITS.mapEntries),
   * no ring buffer to drain is larger than LIMITS.ringBytes.
   */
  private checkMapSizes(maps: readonly MapInfo[]): void {
    const byName = new Map(maps.map((m) => [m.name, m]));
    const problems = [
      ...definitionsOf(this.program.metrics).flatMap((d) => checkMapSize(d, byName.get(d.map))),
      ...checkRingSizes(this.eventDefinitions(), byName),
    ];
    if (problems.length > 0) {
      throw new CollectorError(
        'ERR_EBPF_LAYOUT',
        `${this.id}: a map the definitions read is too large in ${this.program.objectPath}`,
        {
          path: definitionsKey(this.config),
          details: problems,
        },
      );
    }
  }

  /** With `strict`, every program of the chosen set must be attached (ebpf_exporter's --config.strict). */
  private strictCheck(attempts: readonly HookAttempt[]): void {
    if (!this.config.strict) return;
    const missed = attempts.filter((a) => a.ok).flatMap((a) => a.attached.filter((r) => !r.attached));
    if (missed.length > 0) {
      throw new CollectorError('ERR_EBPF_ATTACH_STRICT', `${this.id}: programs failed to attach (strict)`, {
        path: `receivers.${this.id}.strict`,
        details: missed.map((r) => `${this.configName}:${r.program}: ${r.error ?? 'failed'}`),
      });
    }
  }

  describe(): Record<string, unknown> {
    const chosen = this.attempts.find((a) => a.ok);
    return {
      program: this.configName,
      hook: chosen ? chosen.hook || 'default' : 'none',
      attached: chosen?.attached.filter((a) => a.attached).map((a) => a.section) ?? [],
      ...(chosen ? {} : { skipped: this.attempts.map((a) => `${a.hook || 'default'}: ${a.reason ?? ''}`) }),
    };
  }

  /**
   * ebpf_exporter's `/maps` (--debug): this config's metric maps as `## Config` and `### Map`
   * sections of `raw key bytes (labels: [...]) -> value` rows, at most MAX_DUMP_ROWS per map.
   */
  dumpMaps(): string {
    const out = [`## Config: ${this.configName}`, ''];
    for (const r of this.readers) {
      out.push(`### Map: ${r.def.map} (metric ${r.def.name})`, '', '```');
      try {
        const { rows, total } = r.dump(MAX_DUMP_ROWS, (fullRegistry ??= allDecoders()));
        out.push(...rows);
        if (total > rows.length) out.push(`… ${total - rows.length} more entries not shown`);
      } catch (err) {
        out.push(`read failed: ${messageOf(err)}`);
      }
      out.push('```', '');
    }
    return `${out.join('\n')}\n`;
  }

  async collectNow(): Promise<void> {
    this.poll();
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.readers = [];
    this.groups = [];
    this.events?.stop();
    this.events = undefined;
    this.cgroupIdMap?.stop();
    this.cgroupIdMap = undefined;
    // Its series end with it. A reload that swaps it for a receiver of the same config
    // removes the successor's too; the successor sets them again at its next read (poll).
    this.enabledConfigs?.remove({ name: this.configName });
    for (const f of [
      this.attachSeries?.attached,
      this.attachSeries?.rejected,
      this.decoderErrors,
      this.readErrors,
    ])
      f?.remove({ config: this.configName });
    this.upkeep?.stop();
    this.upkeep = undefined;
    this.stats?.remove();
    const object = this.object;
    object?.close();
    this.object = undefined;
    this.subject.complete();
    this.spanSubject.complete();
    this.logSubject.complete();
    // Resolved once the event buffers' handles, and with them their fds, are gone.
    await object?.released();
  }

  private globals(): Record<string, number | bigint | boolean | Buffer> {
    const out: Record<string, number | bigint | boolean | Buffer> = {};
    for (const [k, v] of Object.entries(this.config.globals))
      out[k] = typeof v === 'string' ? Buffer.from(`${v}\0`) : v;
    const kaddrs = [...new Set([...this.config.kaddrs, ...this.program.kaddrs])];
    // A symbol missing from kallsyms fails only the hook sets that need it (loader.ts).
    this.missingKaddrs = [];
    if (kaddrs.length > 0) {
      const ksyms = sharedKallsyms();
      for (const sym of kaddrs) {
        const addr = ksyms.addressOf(sym);
        if (addr === undefined) {
          this.missingKaddrs.push(sym);
          continue;
        }
        out[`kaddr_${sym}`] = addr;
      }
    }
    return out;
  }

  private bindReaders(object: BpfObject): void {
    this.readers = this.readersFor(object, this.hook ?? '');
    this.groups = groupReaders(this.readers);
    this.logger.info(
      { hook: this.hook || 'default', maps: [...new Set(this.readers.map((r) => r.def.map))] },
      `program ${this.configName} attached`,
    );
  }

  private readersFor(object: BpfObject, hook: string): MetricReader[] {
    const maps = new Map(object.maps().map((m) => [m.name, m]));
    const defs = definitionsOf(this.program.metrics, hook);
    const problems = [
      ...unknownHookSets(definitionsOf(this.program.metrics), this.sets),
      ...defs.flatMap((d) => checkLayout(d, maps.get(d.map))),
      ...checkEventLayout(this.eventDefinitions(), maps, hook),
      ...(this.program.cgroupIdMap
        ? checkCgroupIdMap(this.program.cgroupIdMap, maps.get(this.program.cgroupIdMap.name))
        : []),
    ];
    if (problems.length > 0) {
      throw new CollectorError(
        'ERR_EBPF_LAYOUT',
        `${this.id}: metric definitions do not fit ${this.program.objectPath}`,
        {
          path: `receivers.${this.id}.${definitionsKey(this.config)}`,
          details: problems,
        },
      );
    }
    const now = Date.now();
    const options = { skipCacheSize: this.config.skip_cache_size };
    return defs.map((d) => new MetricReader(d, object.map(d.map), registry, now, options));
  }

  /**
   * The series set at start, set again (idempotent): a reload that swapped in this receiver
   * for one of the same config removed them when it stopped the old one.
   */
  private startSeries(): void {
    this.enabledConfigs?.set({ name: this.configName }, 1);
    this.decoderErrors?.add({ config: this.configName }, 0);
    if (this.attachSeries && this.loaded) recordAttach(this.attachSeries, this.attachSubject, this.attempts);
  }

  private poll(): void {
    if (this.stopped) return;
    this.startSeries();
    if (!this.object) return;
    this.lastPollMs = Date.now();
    const stats: ReadStats = { decodeErrors: 0, skipped: 0 };
    const families: RawFamily[] = [];
    for (const f of runAtCollection(this.object, this.runs)) {
      this.logger.error({ program: f.program, err: messageOf(f.error) }, 'run at collection failed');
    }
    for (const g of this.groups) {
      const parts: RawFamily[] = [];
      for (const r of g.readers) {
        try {
          parts.push(r.read(stats));
        } catch (err) {
          this.readErrors?.add({ config: this.configName, map: r.def.map });
          this.logger.error({ map: r.def.map, metric: r.def.name, err: messageOf(err) }, 'map read failed');
        }
      }
      // A metric summed from several maps is left out when one of them failed: a partial sum
      // would look like a counter reset.
      if (parts.length === g.readers.length) families.push(g.sum(parts));
    }
    if (this.events) {
      try {
        families.push(...this.events.families());
      } catch (err) {
        this.logger.error({ err: messageOf(err) }, 'event metrics failed');
      }
    }
    this.stats?.record(this.object, this.attachedPrograms, this.readers, this.readErrors);
    this.upkeep?.afterRead();
    if (stats.decodeErrors > 0) {
      this.decoderErrors?.add({ config: this.configName }, stats.decodeErrors);
      this.logger.warn(
        { count: stats.decodeErrors, last: stats.lastDecodeError },
        'keys dropped by decode errors',
      );
    }
    try {
      this.subject.next({ source: this.id, config: this.configName, timeMs: Date.now(), families });
    } catch (err) {
      this.logger.error({ err: messageOf(err) }, 'pipeline failed on a batch');
    }
  }
}
