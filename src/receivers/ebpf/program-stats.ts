import { KeptOpenFile } from '../../kernel/kept-open-file.ts';
import type { BpfObject, ProgramInfo } from '../../native/index.ts';
import type { SelfFamily, SelfTelemetry } from '../../pipeline/telemetry.ts';
import type { MetricReader } from './reader.ts';

/**
 * A receiver's per-program and per-map self-metrics (ebpf_exporter's program families by
 * id, map fill by config, map and map type), refreshed on every read and removed with it.
 */
export class ProgramStats {
  private readonly info: SelfFamily;
  private readonly attached: SelfFamily;
  private readonly runCount: SelfFamily;
  private readonly runTime: SelfFamily;
  private readonly entries: SelfFamily;
  private readonly capacity: SelfFamily;
  /** Ids and tags never change after load: the kernel is asked again only for run statistics. */
  private loaded: readonly ProgramInfo[] | undefined;

  private readonly configName: string;
  /** kernel.bpf_stats_enabled, read again (pread) at every record(); closed by remove(). */
  private readonly statsSwitch = new StatsSwitch();

  constructor(t: SelfTelemetry, configName: string) {
    this.configName = configName;
    this.info = t.gauge('ebpf_program_info', 'Info about ebpf programs');
    // By program id, joined with ebpf_program_info on id (ebpf_exporter's layout).
    this.attached = t.gauge('ebpf_program_attached', 'Whether a program is attached');
    // Only while kernel.bpf_stats_enabled=1, as ebpf_exporter.
    this.runCount = t.counter('ebpf_program_run_count_total', 'How many times has the program been executed');
    this.runTime = t.counter('ebpf_program_run_time_seconds', 'How long has the program been executing');
    this.entries = t.gauge(
      'map_entries',
      'Entries in a metric map at the last read (array maps: all slots; with key: in the value, the slots holding a key), by config, map and map type',
    );
    this.capacity = t.gauge(
      'map_capacity',
      'max_entries of a metric map: entries reaching it means the map is full',
    );
  }

  record(
    object: BpfObject,
    attached: ReadonlyMap<string, boolean>,
    readers: readonly MetricReader[],
    readErrors: SelfFamily | undefined,
  ): void {
    const statsEnabled = this.statsSwitch.enabled();
    const programs = statsEnabled || !this.loaded ? object.programs() : this.loaded;
    this.loaded ??= programs;
    for (const p of programs) {
      if (p.id === undefined) continue;
      const id = String(p.id);
      this.info.set({ config: this.configName, program: p.name, tag: p.tag ?? '', id }, 1);
      this.attached.set({ id }, attached.get(p.name) === true ? 1 : 0);
      if (statsEnabled) {
        this.runCount.set({ id }, p.runCount ?? 0);
        this.runTime.set({ id }, (p.runTimeNs ?? 0) / 1e9);
      }
    }
    for (const r of readers) {
      // `type` tells a hash map filling up from an array, whose every slot always counts.
      const labels = { config: this.configName, map: r.def.map, type: r.mapType };
      this.entries.set(labels, r.lastEntries);
      this.capacity.set(labels, r.capacity);
      // A healthy agent exposes 0, so that rate() and alerts see the series before an error.
      readErrors?.add({ config: this.configName, map: r.def.map }, 0);
    }
  }

  /** The receiver's series end with it. */
  remove(): void {
    this.statsSwitch.close();
    for (const f of [this.info, this.entries, this.capacity]) f.remove({ config: this.configName });
    for (const p of this.loaded ?? []) {
      if (p.id === undefined) continue;
      for (const f of [this.attached, this.runCount, this.runTime]) f.remove({ id: String(p.id) });
    }
  }
}

/**
 * `/proc/sys/kernel/bpf_stats_enabled`, which root may switch at any time: read at every
 * record, through a file opened once (a pread at offset 0 makes the kernel write the value
 * anew): 2 µs against 8-10 for opening, reading and closing the file each time.
 */
export class StatsSwitch {
  private readonly file = new KeptOpenFile('/proc/sys/kernel/bpf_stats_enabled');
  private readonly buf = Buffer.alloc(4);

  enabled(): boolean {
    try {
      const n = this.file.read(this.buf);
      // "1\n" while enabled ("0\n" otherwise).
      return n >= 1 && this.buf[0] === 0x31 && (n === 1 || this.buf[1] === 0x0a);
    } catch {
      return false;
    }
  }

  close(): void {
    this.file.close();
  }
}
