import type { OperatorFunction } from 'rxjs';
import type { Logger } from 'pino';
import type { Host, Processor } from '../../pipeline/component.ts';
import type { MetricBatch } from '../../pipeline/data.ts';
import { builtinDecoders } from '../../decoders/builtin.ts';
import type { Decoder } from '../../decoders/decoder.ts';
import { ksymDecoder } from '../../decoders/ksym.ts';
import { sharedKallsyms, type Kallsyms } from '../../kernel/kallsyms.ts';
import type { SelfFamily } from '../../pipeline/telemetry.ts';
import type { KsymProcessorConfig } from './config.ts';
import { ChainMemo, type MemoSource } from '../../decoders/memo.ts';

/** How the ksym decoder writes an address without a symbol (`unknownAddr`). */
const UNKNOWN = 'unknown_addr:';

/**
 * processor `ksym`: supplies the `ksym` decoder (8-byte kernel address → exact
 * symbol from /proc/kallsyms) to label chains, then runs the built-in
 * decoders that follow it in each chain.
 */
export class KsymProcessor implements Processor {
  readonly operator: OperatorFunction<MetricBatch, MetricBatch>;
  private readonly config: KsymProcessorConfig;
  private readonly logger: Logger;
  private ksym: Decoder | undefined;
  private kallsyms: Kallsyms | undefined;
  /**
   * Decoded label sets remembered by slot-array identity (memo.ts): a map key's symbol is
   * looked up once, not on every scrape. Dropped whenever kallsyms is re-read; misses
   * (`unknown_addr:…`, which a module loaded later may resolve) are never remembered.
   */
  readonly memo: ChainMemo;
  private decoderErrors: SelfFamily | undefined;

  constructor(config: KsymProcessorConfig, logger: Logger) {
    this.config = config;
    this.logger = logger;
    const lazyKsym: Decoder = {
      name: 'ksym',
      decode: (input, spec) => {
        this.ksym ??= this.loadDecoder();
        const out = this.ksym.decode(input, spec);
        if (typeof out === 'string' && out.startsWith(UNKNOWN)) source.volatile = true;
        return out;
      },
    };
    const source: MemoSource = {
      generation: () => this.kallsyms?.refreshes ?? -1,
      volatile: false,
    };
    const registry = new Map<string, Decoder>(builtinDecoders.map((d) => [d.name, d]));
    registry.set('ksym', lazyKsym);
    this.memo = new ChainMemo(registry, source);
    this.operator = this.memo.operator((source, config, stats) => {
      this.decoderErrors?.add({ config }, stats.decodeErrors);
      this.logger.warn(
        { source, count: stats.decodeErrors, last: stats.lastError },
        'keys dropped by ksym decode errors',
      );
    });
  }

  async start(host: Host): Promise<void> {
    this.decoderErrors = host.telemetry.counter(
      'decoder_errors_total',
      'How many times has decoders encountered errors',
    );
    // Read the table at start, so a missing privilege is a start error, not a scrape-time one.
    this.ksym = this.loadDecoder();
  }

  async shutdown(): Promise<void> {
    this.ksym = undefined;
    this.kallsyms = undefined;
    this.memo.clear();
  }

  private loadDecoder(): Decoder {
    const kallsyms = sharedKallsyms({
      path: this.config.kallsyms_path,
      refreshIntervalMs: this.config.refresh_interval,
    });
    this.logger.debug({ symbols: kallsyms.size }, 'kallsyms loaded');
    this.kallsyms = kallsyms;
    return ksymDecoder(kallsyms);
  }
}
