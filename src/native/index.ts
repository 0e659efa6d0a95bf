/**
 * The addon's public surface: the contract of ./types.ts, implemented by one module per
 * kernel noun, as native/*.cc is split — addon.ts (loading the .node), errors.ts, object.ts,
 * map.ts, buffers.ts (ring and perf buffers), process.ts (errno text,
 * libbpf version, malloc tuning) and testing.ts (test triggers). Only src/native/ loads the addon.
 */
export type * from './types.ts';

export { ADDON_PATH, nativeAddon } from './addon.ts';
export { nextRecord, RECORD_HEADER_BYTES } from './buffers.ts';
export { NO_PMU, redact, verifierReason } from './errors.ts';
export { openObject } from './object.ts';
export {
  dropExecutablePages,
  errnoText,
  libbpfVersion,
  mallocStats,
  monitorLoopBusy,
  numPossibleCpus,
  postAttachMark,
  trimMalloc,
  tuneMalloc,
  type LoopBusyMonitor,
  type MallocStats,
} from './process.ts';
export { callUprobeTarget, syscallGetpgid, syscallGetpid, UPROBE_TARGET } from './testing.ts';
