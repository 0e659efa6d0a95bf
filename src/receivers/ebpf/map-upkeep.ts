import type { Logger } from 'pino';
import { messageOf } from '../../errors.ts';
import type { BpfMap, BpfObject, MapInfo } from '../../native/index.ts';
import type { SelfFamily, SelfTelemetry } from '../../pipeline/telemetry.ts';
import { acquireTable, type TableLease } from '../../kernel/cgroup-table-lease.ts';
import { CGROUP_TABLE_DEFAULTS, findCgroup2Mount } from '../../kernel/cgroup-table.ts';
import type { MetricDefinition } from './definitions.ts';

/**
 * The map `bpf/include/maps.bpf.h` adds to every object that includes it: failed updates
 * (a full map) by the failing map's kernel id. Objects without it (ebpf_exporter's) get no
 * failure counts and work unchanged.
 */
export const UPDATE_FAILURES_MAP = 'map_update_failures';

/** A map whose keys hold a cgroup id: where it is in the key. */
interface CgroupKeyed {
  readonly map: BpfMap;
  readonly offset: number;
  /**
   * Cgroup ids in the map that the table did not know as live: id → table.scans and time then,
   * and whether the table had a path for it at any sighting (a removed cgroup it saw live).
   */
  readonly suspects: Map<bigint, { readonly scans: number; readonly sinceMs: number; known: boolean }>;
}

/** Keys removed from a map at most this many at a read (the rest at the next). */
const MAX_DELETES_PER_READ = 65_536;

/**
 * What the receiver does after each read so full maps are neither silent nor permanent:
 *
 * - Reads `map_update_failures` into `map_update_failures_total{config,map}`.
 * - Removes the keys of dead cgroups from maps read by a metric with a `cgroup`-decoded
 *   label (the uprobe program's per-cgroup map): a cgroup id in the map that the shared
 *   cgroup table does not know as live is a suspect; once it has been one for `graceMs`
 *   (`removed_cgroup_grace`) and a full walk of the cgroup2 tree made after it was first
 *   seen still did not find it, its keys are deleted at a read, after that read reported
 *   their last values. So a removed cgroup's series is reported at least once more (for
 *   the grace), then goes; a key of a cgroup that is still there is never removed (the
 *   walk would have found it). A cgroup the table never had a path for (created and removed
 *   between its events and walks: its series was `unknown_cgroup_id:<id>` all along) has no
 *   path to keep: its keys go after `unknownHoldMs` (the receiver's `poll_interval`, at most
 *   the grace), once that walk confirmed it gone. Counted in
 *   `map_cgroup_keys_removed_total{config,map}`.
 */
export class MapUpkeep {
  private readonly config: string;
  private readonly logger: Logger;
  private readonly failuresMap: BpfMap | undefined;
  /** Kernel map id → map name. */
  private readonly names = new Map<number, string>();
  private readonly failures: SelfFamily;
  private readonly removed: SelfFamily;
  private readonly keyed: CgroupKeyed[] = [];
  private lease: TableLease | undefined;
  private warnedFull = new Set<string>();
  private readonly graceMs: number;
  private readonly unknownHoldMs: number;
  /** Maps read by metrics: their failure series exist (0) from the first read. */
  private metricMaps: string[] = [];

  constructor(
    object: BpfObject,
    defs: readonly MetricDefinition[],
    telemetry: SelfTelemetry,
    config: string,
    logger: Logger,
    graceMs: number,
    unknownHoldMs: number = graceMs,
  ) {
    this.graceMs = graceMs;
    this.unknownHoldMs = Math.min(graceMs, unknownHoldMs);
    this.config = config;
    this.logger = logger;
    this.failures = telemetry.counter(
      'map_update_failures_total',
      'BPF map updates that failed in the kernel (the map was full), by config and map',
    );
    this.removed = telemetry.counter(
      'map_cgroup_keys_removed_total',
      'Keys of removed cgroups deleted from a BPF map by the agent, by config and map',
    );
    const infos = object.maps();
    for (const m of infos) if (m.id !== undefined) this.names.set(m.id, m.name);
    const failures = infos.find((m) => m.name === UPDATE_FAILURES_MAP);
    if (failures && fitsFailures(failures)) {
      this.failuresMap = object.map(UPDATE_FAILURES_MAP);
      this.metricMaps = [...new Set(defs.map((d) => d.map))];
    }
    const seen = new Set<string>();
    for (const d of defs) {
      const info = infos.find((m) => m.name === d.map);
      const offset = info && cgroupOffset(d, info.perCpu);
      if (offset === undefined || !info || seen.has(d.map) || !prunable(info)) continue;
      seen.add(d.map);
      this.keyed.push({ map: object.map(d.map), offset, suspects: new Map() });
    }
    if (this.keyed.length > 0) this.lease = this.acquire();
  }

  private acquire(): TableLease | undefined {
    const root = findCgroup2Mount();
    if (root === undefined) return undefined;
    try {
      return acquireTable({
        root,
        ...CGROUP_TABLE_DEFAULTS,
        onWarning: (message) => this.logger.warn({ root }, message),
      });
    } catch (err) {
      this.logger.warn(
        { root, err: messageOf(err) },
        'cgroup table unavailable: keys of removed cgroups stay',
      );
      return undefined;
    }
  }

  /** After every read of the maps. Never throws. */
  afterRead(): void {
    try {
      this.readFailures();
    } catch (err) {
      this.logger.error({ map: UPDATE_FAILURES_MAP, err: messageOf(err) }, 'map read failed');
    }
    const table = this.lease?.table;
    if (!table) return;
    let rescan = false;
    for (const k of this.keyed) {
      try {
        rescan = this.prune(k, table) || rescan;
      } catch (err) {
        this.logger.error({ map: k.map.info.name, err: messageOf(err) }, 'removing dead cgroup keys failed');
      }
    }
    // Suspects are judged by a walk made after they were seen: one now, at most once a second.
    if (rescan && Date.now() - table.lastScanMs >= 1_000) table.rescan();
  }

  private readFailures(): void {
    if (!this.failuresMap) return;
    // Set at every read: a reload's predecessor removes this config's series when it stops.
    for (const map of this.metricMaps) this.failures.add({ config: this.config, map }, 0);
    const batch = this.failuresMap.readAll();
    for (let i = 0; i < batch.count; i++) {
      const id = batch.keys.readUInt32LE(i * 4);
      const count = Number(batch.values.readBigUInt64LE(i * this.failuresMap.info.valueStride));
      const map = this.names.get(id) ?? `id ${id}`;
      this.failures.set({ config: this.config, map }, count);
      if (count > 0 && !this.warnedFull.has(map)) {
        this.warnedFull.add(map);
        this.logger.warn(
          { map, failures: count },
          `map ${map} is full: updates are failing (counted; warned once)`,
        );
      }
    }
  }

  /** One map: delete confirmed-dead keys, note new suspects. Whether a walk is wanted. */
  private prune(k: CgroupKeyed, table: NonNullable<TableLease['table']>): boolean {
    this.removed.add({ config: this.config, map: k.map.info.name }, 0);
    const batch = k.map.readAll();
    const size = k.map.info.keySize;
    const inMap = new Set<bigint>();
    const now = Date.now();
    const doomed: Buffer[] = [];
    let want = false;
    for (let i = 0; i < batch.count; i++) {
      const at = i * size;
      const id = batch.keys.readBigUInt64LE(at + k.offset);
      inMap.add(id);
      if (table.isLive(id)) {
        k.suspects.delete(id);
        continue;
      }
      const since = k.suspects.get(id);
      if (since === undefined) {
        k.suspects.set(id, { scans: table.scans, sinceMs: now, known: table.knows(id) });
        want = true;
        continue;
      }
      if (!since.known && table.knows(id)) since.known = true;
      if (table.scans <= since.scans) {
        want = true;
      } else if (
        now - since.sinceMs >= (since.known ? this.graceMs : this.unknownHoldMs) &&
        doomed.length < MAX_DELETES_PER_READ
      ) {
        doomed.push(Buffer.from(batch.keys.subarray(at, at + size)));
      }
    }
    for (const id of k.suspects.keys()) if (!inMap.has(id)) k.suspects.delete(id);
    let gone = 0;
    for (const key of doomed) {
      if (k.map.delete(key)) gone++;
      k.suspects.delete(key.readBigUInt64LE(k.offset));
    }
    if (gone > 0) this.removed.add({ config: this.config, map: k.map.info.name }, gone);
    return want;
  }

  stop(): void {
    this.lease?.release();
    this.lease = undefined;
    this.failures.remove({ config: this.config });
    this.removed.remove({ config: this.config });
  }
}

function fitsFailures(m: MapInfo): boolean {
  return (m.type === 'hash' || m.type === 'lru_hash') && m.keySize === 4 && m.valueSize === 8 && !m.perCpu;
}

/** Hash maps only: an array's slots cannot be deleted. */
function prunable(m: MapInfo): boolean {
  return (
    m.type === 'hash' || m.type === 'lru_hash' || m.type === 'percpu_hash' || m.type === 'lru_percpu_hash'
  );
}

/**
 * Offset in the key of the first 8-byte label decoded by `cgroup` (after `uint`), if any. On a
 * per-CPU map a `cpu` label is not part of the key (reader.ts). None when the labels are in
 * the value (`key:`): the map key is not theirs.
 */
export function cgroupOffset(d: MetricDefinition, perCpu: boolean): number | undefined {
  if (d.key) return undefined;
  let offset = 0;
  for (const l of d.labels) {
    if (perCpu && l.name === 'cpu') continue;
    if (l.size === 8 && l.decoders.some((x) => x.name === 'cgroup')) return offset;
    offset += l.size + (l.padding ?? 0);
  }
  return undefined;
}
