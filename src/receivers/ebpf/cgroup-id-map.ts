import { closeSync, openSync } from 'node:fs';
import type { Logger } from 'pino';
import type { RE2JS as RE2JSClass } from 're2js';
import { CollectorError, messageOf } from '../../errors.ts';
import { re2 } from '../../labels/regex.ts';
import type { BpfMap, MapInfo } from '../../native/index.ts';
import { acquireTable, type TableLease } from '../../kernel/cgroup-table-lease.ts';
import { CGROUP_TABLE_DEFAULTS, findCgroup2Mount, type CgroupChange } from '../../kernel/cgroup-table.ts';
import type { ExporterFileConfig } from './file-schema.ts';

/**
 * ebpf_exporter's `cgroup_id_map` (its §5.5): the agent keeps a BPF map filled with the
 * cgroup v2 cgroups whose path matches any of `regexps` (RE2, unanchored, as Go's
 * `MatchString`; the path as the `cgroup` decoder prints it, mount point included), so
 * BPF code can filter by cgroup. It follows cgroups as they come and go through the
 * shared inotify-watched cgroup table (kernel/cgroup-table.ts) — the same one the
 * `cgroup` processor uses with default settings.
 *
 * - `type: hash` (default): key u64 cgroup id, value 1; removed cgroups are deleted.
 * - `type: cgrp_storage`: the cgroup's storage is set to 1 through an open fd of its
 *   directory (the map's key); the kernel frees it with the cgroup. A cgroup renamed so
 *   it no longer matches has its storage deleted.
 */
export type CgroupIdMapConfig = NonNullable<ExporterFileConfig['cgroup_id_map']>;

/** Why `info` cannot be the map `config` names (one line each); empty when it fits. */
export function checkCgroupIdMap(config: CgroupIdMapConfig, info: MapInfo | undefined): string[] {
  const type = config.type ?? 'hash';
  const where = `cgroup_id_map: map ${config.name}`;
  if (!info) return [`cgroup_id_map: the object has no map named "${config.name}"`];
  if (type === 'hash') {
    if (info.type !== 'hash' && info.type !== 'lru_hash')
      return [`${where} is ${info.type}, but type ${type} needs a hash (or lru_hash) map`];
    if (info.keySize !== 8)
      return [`${where}: key must be the u64 cgroup id (8 bytes), but it is ${info.keySize}`];
  } else {
    if (info.type !== 'cgrp_storage')
      return [`${where} is ${info.type}, but type cgrp_storage needs BPF_MAP_TYPE_CGRP_STORAGE`];
  }
  if (info.perCpu) return [`${where}: a per-CPU map cannot hold one mark per cgroup`];
  return [];
}

export class CgroupIdMap {
  private readonly config: CgroupIdMapConfig;
  private readonly map: BpfMap;
  private readonly logger: Logger;
  private readonly patterns: RE2JSClass[];
  private readonly value: Buffer;
  private lease: TableLease | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Ids in the map now (hash) or marked (cgrp_storage). */
  private readonly members = new Set<bigint>();
  private warnedFull = false;
  /** Map updates or deletes that failed (a full map, a cgroup gone meanwhile). */
  failures = 0;

  constructor(config: CgroupIdMapConfig, map: BpfMap, logger: Logger) {
    this.config = config;
    this.map = map;
    this.logger = logger;
    this.patterns = config.regexps.map((p) => re2().compile(p));
    // 1 as a little-endian number of the value's size.
    this.value = Buffer.alloc(map.info.valueStride);
    if (this.value.length > 0) this.value[0] = 1;
  }

  /** Cgroup ids the map holds now (tests). */
  get ids(): ReadonlySet<bigint> {
    return this.members;
  }

  /** The cgroup ids in the kernel's map now, read back from it (type hash; tests). */
  kernelIds(): bigint[] {
    const batch = this.map.readAll();
    const ids: bigint[] = [];
    for (let i = 0; i < batch.count; i++) ids.push(batch.keys.readBigUInt64LE(i * 8));
    return ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Fill the map with every matching cgroup and follow changes. Throws when the cgroup2 tree cannot be read. */
  start(): void {
    const root = findCgroup2Mount();
    if (root === undefined)
      throw new CollectorError(
        'ERR_EBPF_CGROUP_ID_MAP',
        `cgroup_id_map ${this.config.name}: no cgroup2 mount in /proc/self/mountinfo`,
      );
    try {
      this.lease = acquireTable({
        root,
        ...CGROUP_TABLE_DEFAULTS,
        onWarning: (message) => this.logger.warn({ root }, message),
      });
    } catch (err) {
      throw new CollectorError(
        'ERR_EBPF_CGROUP_ID_MAP',
        `cgroup_id_map ${this.config.name}: read cgroup root ${root}: ${messageOf(err)}`,
        { cause: err },
      );
    }
    const table = this.lease.table;
    this.unsubscribe = table.onChange((c) => this.apply(c));
    for (const [id, path] of table.liveEntries()) this.apply({ id, path });
    this.logger.info(
      { map: this.config.name, type: this.config.type ?? 'hash', cgroups: this.members.size },
      'cgroup_id_map filled',
    );
  }

  /** Stop following; the map goes with the object. Safe twice. */
  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.lease?.release();
    this.lease = undefined;
  }

  private matches(path: string): boolean {
    return this.patterns.some((re) => re.matcher(path).find());
  }

  private apply(change: CgroupChange): void {
    const want = change.path !== undefined && this.matches(change.path);
    const has = this.members.has(change.id);
    if (want === has) return; // a rename that still matches (or still does not) changes nothing
    try {
      if ((this.config.type ?? 'hash') === 'hash') {
        const key = Buffer.alloc(8);
        key.writeBigUInt64LE(change.id);
        if (want) this.map.update(key, this.value);
        else this.map.delete(key);
      } else if (change.path !== undefined) {
        this.storage(change.path, want);
      }
      // A removed cgroup's storage is freed by the kernel with the cgroup.
      if (want) this.members.add(change.id);
      else this.members.delete(change.id);
    } catch (err) {
      this.failures++;
      if (want && !this.warnedFull) {
        this.warnedFull = true;
        this.logger.warn(
          { map: this.config.name, path: change.path, err: messageOf(err) },
          'cgroup_id_map: a matching cgroup could not be added (map full?); warned once',
        );
      }
    }
  }

  /** Set (or delete) the cgroup's storage through an fd of its directory. */
  private storage(path: string, set: boolean): void {
    const fd = openSync(path, 'r');
    try {
      const key = Buffer.alloc(4);
      key.writeInt32LE(fd);
      if (set) this.map.update(key, this.value);
      else this.map.delete(key);
    } finally {
      closeSync(fd);
    }
  }
}
