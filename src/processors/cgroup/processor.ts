import type { OperatorFunction } from 'rxjs';
import type { Logger } from 'pino';
import type { Host, Processor } from '../../pipeline/component.ts';
import type { MetricBatch } from '../../pipeline/data.ts';
import { builtinDecoders } from '../../decoders/builtin.ts';
import type { Decoder } from '../../decoders/decoder.ts';
import { findCgroup2Mount, OrderedCgroupTables, type CgroupTable } from '../../kernel/cgroup-table.ts';
import { findCgroupV1Mount } from '../../kernel/cgroups.ts';
import { readMountInfo } from '../../kernel/mountinfo.ts';
import type { SelfFamily } from '../../pipeline/telemetry.ts';
// The remembering chain-resuming operator (shared with the ksym processor).
import { ChainMemo, type Fact, type MemoSource } from '../../decoders/memo.ts';
import type { CgroupProcessorConfig } from './config.ts';
import { cgroupDecoder, type CgroupResolver } from '../../decoders/cgroup.ts';
import { acquireTable, type TableLease } from '../../kernel/cgroup-table-lease.ts';

/**
 * What a decoded cgroup id may change with, one fact per id in use: invalidated when a table
 * tells of a change for that id (a new, renamed or removed cgroup, or one whose grace ran out).
 * Facts are held by the label sets decoded from them (ChainMemo), so an id whose label sets
 * are gone is forgotten.
 */
class CgroupFacts {
  private readonly byId = new Map<bigint, WeakRef<Fact>>();
  private readonly forget = new FinalizationRegistry<bigint>((id) => {
    if (this.byId.get(id)?.deref() === undefined) this.byId.delete(id);
  });
  /** Facts invalidated so far. */
  invalidated = 0;

  of(id: bigint): Fact {
    let fact = this.byId.get(id)?.deref();
    if (fact === undefined) {
      fact = { valid: true };
      this.byId.set(id, new WeakRef(fact));
      this.forget.register(fact, id);
    }
    return fact;
  }

  change(id: bigint): void {
    const fact = this.byId.get(id)?.deref();
    if (fact === undefined) return;
    fact.valid = false;
    this.byId.delete(id);
    this.invalidated++;
  }
}

/**
 * processor `cgroup`: supplies the `cgroup` decoder (decimal cgroup v2 id →
 * cgroupfs path) to label chains from one table shared by every `cgroup`
 * processor with the same settings, kept current with inotify; then runs the
 * built-in decoders that follow it in each chain.
 *
 * A label set is decoded once and kept (ChainMemo, by slot-array identity; series tables by
 * rows identity) until a table tells of a change for one of its cgroup ids: exactly the
 * label sets (and tables) that carried that id are derived again. An id no table knows is
 * kept as `unknown_cgroup_id:…` until a cgroup with that id appears (the tables tell of every
 * new cgroup: inotify, or the rescan every rescan_interval without it).
 */
export class CgroupProcessor implements Processor {
  readonly operator: OperatorFunction<MetricBatch, MetricBatch>;
  private readonly config: CgroupProcessorConfig;
  private readonly logger: Logger;
  private leases: TableLease[] = [];
  private resolver: OrderedCgroupTables | undefined;
  private decoderErrors: SelfFamily | undefined;
  private facts = new CgroupFacts();
  private unsubscribe: (() => void)[] = [];
  /** Decoded label sets remembered until a cgroup id of theirs changes. */
  readonly memo: ChainMemo;

  constructor(config: CgroupProcessorConfig, logger: Logger) {
    this.config = config;
    this.logger = logger;
    const used: Fact[] = [];
    const source: MemoSource = {
      generation: () => 0,
      volatile: false,
      facts: used,
      invalidations: () => this.facts.invalidated,
    };
    // The resolver as the decoder sees it: each id looked up is a fact of the label set.
    const tracked: CgroupResolver = {
      resolve: (id) => {
        used.push(this.facts.of(id));
        return (this.resolver as OrderedCgroupTables).resolve(id);
      },
    };
    const registry = new Map<string, Decoder>(builtinDecoders.map((d) => [d.name, d]));
    registry.set(
      'cgroup',
      cgroupDecoder(() => {
        if (this.resolver !== undefined) return tracked;
        source.volatile = true; // not started (or shut down): not an answer to keep
        return undefined;
      }),
    );
    this.memo = new ChainMemo(registry, source);
    this.operator = this.memo.operator((source, config, stats) => {
      this.decoderErrors?.add({ config }, stats.decodeErrors);
      this.logger.warn(
        { source, count: stats.decodeErrors, last: stats.lastError },
        'keys dropped by cgroup decode errors',
      );
    });
  }

  /** The first table in use (after start: cgroup2 by default), for tests and `describe()`. */
  get table(): CgroupTable | undefined {
    return this.leases[0]?.table;
  }

  /** Every table in use, in `hierarchies` order. */
  get tables(): readonly CgroupTable[] {
    return this.leases.map((l) => l.table);
  }

  async start(host: Host): Promise<void> {
    this.decoderErrors = host.telemetry.counter(
      'decoder_errors_total',
      'How many times has decoders encountered errors',
    );
    if (this.leases.length > 0) return;
    const mounts = readMountInfo();
    const roots: string[] = [];
    for (const h of this.config.hierarchies) {
      const root =
        h === 'unified' ? (this.config.cgroup_root ?? findCgroup2Mount()) : findCgroupV1Mount(h, mounts);
      if (root !== undefined) roots.push(root);
      else if (h === 'unified') {
        this.logger.warn('no cgroup2 mount in /proc/self/mountinfo: cgroup2 ids decode as unknown_cgroup_id');
      } else {
        this.logger.warn(
          { controller: h },
          'no cgroup v1 hierarchy with this controller in /proc/self/mountinfo: skipped',
        );
      }
    }
    try {
      for (const root of roots) {
        this.leases.push(
          acquireTable({
            root,
            deletedGraceMs: this.config.deleted_grace,
            rescanIntervalMs: this.config.rescan_interval,
            maxWatches: this.config.max_watches,
            maxDeleted: this.config.max_deleted,
            watch: this.config.watch,
            onWarning: (message) => this.logger.warn({ root }, message),
          }),
        );
      }
    } catch (err) {
      const root = roots[this.leases.length] as string;
      for (const l of this.leases) l.release();
      this.leases = [];
      throw new Error(`processor cgroup: read cgroup root ${root}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.resolver = new OrderedCgroupTables(this.tables);
    for (const t of this.tables) this.unsubscribe.push(t.onChange((c) => this.facts.change(c.id)));
    for (const t of this.tables) {
      this.logger.debug({ root: t.root, mode: t.mode, ...t.size }, 'cgroup table loaded');
    }
  }

  async shutdown(): Promise<void> {
    for (const stop of this.unsubscribe) stop();
    this.unsubscribe = [];
    for (const l of this.leases) l.release();
    this.leases = [];
    this.resolver = undefined;
    this.memo.clear();
    this.facts = new CgroupFacts();
  }

  describe(): Record<string, unknown> {
    const t = this.table;
    if (!t) return { cgroupRoot: null };
    return {
      cgroupRoot: t.root,
      cgroupWatch: t.mode,
      // Only with v1 hierarchies too, so the cgroup2-only answer stays as it was.
      ...(this.tables.length > 1
        ? { cgroupRoots: this.tables.map((x) => ({ root: x.root, watch: x.mode })) }
        : {}),
    };
  }
}
