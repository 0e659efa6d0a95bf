import type { OperatorFunction } from 'rxjs';
import type { Logger } from 'pino';
import type { Host, Processor } from '../../pipeline/component.ts';
import type { MetricBatch } from '../../pipeline/data.ts';
import { builtinDecoders } from '../../decoders/builtin.ts';
import type { Decoder } from '../../decoders/decoder.ts';
import { findCgroup2Mount, type CgroupTable } from '../../kernel/cgroup-table.ts';
import type { SelfFamily } from '../../pipeline/telemetry.ts';
// The chain-resuming operator is shared with the ksym processor (it belongs in a shared module).
import { resumeDecoders } from '../../decoders/resume.ts';
import type { CgroupProcessorConfig } from './config.ts';
import { cgroupDecoder } from '../../decoders/cgroup.ts';
import { acquireTable, type TableLease } from './shared.ts';

/**
 * processor `cgroup`: supplies the `cgroup` decoder (decimal cgroup v2 id →
 * cgroupfs path) to label chains from one table shared by every `cgroup`
 * processor with the same settings, kept current with inotify; then runs the
 * built-in decoders that follow it in each chain.
 */
export class CgroupProcessor implements Processor {
  readonly provides = ['cgroup'] as const;
  readonly operator: OperatorFunction<MetricBatch, MetricBatch>;
  private readonly config: CgroupProcessorConfig;
  private readonly logger: Logger;
  private lease: TableLease | undefined;
  private decoderErrors: SelfFamily | undefined;

  constructor(config: CgroupProcessorConfig, logger: Logger) {
    this.config = config;
    this.logger = logger;
    const registry = new Map<string, Decoder>(builtinDecoders.map((d) => [d.name, d]));
    registry.set(
      'cgroup',
      cgroupDecoder(() => this.lease?.table),
    );
    this.operator = resumeDecoders(registry, (source, config, stats) => {
      this.decoderErrors?.add({ config }, stats.decodeErrors);
      this.logger.warn(
        { source, count: stats.decodeErrors, last: stats.lastError },
        'keys dropped by cgroup decode errors',
      );
    });
  }

  /** The table in use (after start), for tests and `describe()`. */
  get table(): CgroupTable | undefined {
    return this.lease?.table;
  }

  async start(host: Host): Promise<void> {
    this.decoderErrors = host.telemetry.counter(
      'decoder_errors_total',
      'How many times has decoders encountered errors',
    );
    if (this.lease) return;
    const root = this.config.cgroup_root ?? findCgroup2Mount();
    if (root === undefined) {
      this.logger.warn(
        'no cgroup2 mount in /proc/self/mountinfo: every cgroup id decodes as unknown_cgroup_id',
      );
      return;
    }
    try {
      this.lease = acquireTable({
        root,
        deletedGraceMs: this.config.deleted_grace,
        rescanIntervalMs: this.config.rescan_interval,
        maxWatches: this.config.max_watches,
        maxDeleted: this.config.max_deleted,
        watch: this.config.watch,
        onWarning: (message) => this.logger.warn({ root }, message),
      });
    } catch (err) {
      throw new Error(`processor cgroup: read cgroup root ${root}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const t = this.lease.table;
    this.logger.debug({ root, mode: t.mode, ...t.size }, 'cgroup table loaded');
  }

  async shutdown(): Promise<void> {
    this.lease?.release();
    this.lease = undefined;
  }

  describe(): Record<string, unknown> {
    const t = this.lease?.table;
    return t ? { cgroupRoot: t.root, cgroupWatch: t.mode } : { cgroupRoot: null };
  }
}
