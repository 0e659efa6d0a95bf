/**
 * The agent's own privilege: checked before anything loads, reduced after
 * everything is attached.
 */
import type { Logger } from 'pino';
import { CollectorError } from '../errors.ts';
import {
  capabilityName,
  currentCapabilities,
  dropCapabilities,
  namesOf,
  type DropResult,
} from '../native/caps.ts';
import type { CapabilityPlan } from './derive.ts';
import { missingCapabilities, missingCapabilitiesError } from './report.ts';

/**
 * ebpf_exporter's `--capabilities.keep`: `all` (keep every capability held: no
 * drop), `none`, or a comma list (`cap_syslog,cap_bpf`). Absent, the agent keeps
 * what the plan says it still needs after attach.
 */
export type KeepSetting =
  | { readonly kind: 'derived' }
  | { readonly kind: 'all' }
  | { readonly kind: 'list'; readonly names: readonly string[] };

export const KEEP_FLAG = '--capabilities.keep';

export function parseKeepFlag(value: string | undefined): KeepSetting {
  if (value === undefined) return { kind: 'derived' };
  const v = value.trim();
  if (v === 'all') return { kind: 'all' };
  if (v === 'none') return { kind: 'list', names: [] };
  const parts = v.split(',').map((p) => p.trim());
  const bad = parts.filter((p) => capabilityName(p) === undefined);
  if (bad.length > 0 || parts.length === 0) {
    throw new CollectorError(
      'ERR_CONFIG_VALUE',
      `unknown capability ${bad.map((b) => JSON.stringify(b)).join(', ') || '""'}; expected all, none, or a comma list of names such as cap_syslog,cap_bpf`,
      { path: KEEP_FLAG },
    );
  }
  return { kind: 'list', names: [...new Set(parts.map((p) => capabilityName(p) as string))] };
}

/** Before loading: throws ERR_CAPS_MISSING when the process lacks a capability the plan needs. */
export function checkCapabilities(plan: CapabilityPlan): void {
  const caps = currentCapabilities();
  const missing = missingCapabilities(plan, new Set(namesOf(caps.effective)), caps.lastCap);
  if (missing.length > 0) throw missingCapabilitiesError(missing);
}

/** After every program is attached: keep only what is still needed (or what the flag says), on every thread. */
export function dropAfterAttach(
  plan: CapabilityPlan,
  keep: KeepSetting,
  logger: Logger,
): DropResult | undefined {
  const before = namesOf(currentCapabilities().permitted);
  if (keep.kind === 'all') {
    logger.info({ capabilities: before }, `capabilities kept: ${KEEP_FLAG}=all`);
    return undefined;
  }
  const wanted = keep.kind === 'list' ? keep.names : plan.afterAttach;
  const result = dropCapabilities(wanted);
  logger.info(
    {
      started: result.before,
      kept: result.kept,
      threads: result.checkedThreads,
      bounding: result.boundingDropped,
      by: keep.kind === 'list' ? KEEP_FLAG : 'derived (ebpf-collector caps)',
    },
    `capabilities dropped on every thread; kept: ${result.kept.join(', ') || 'none'}`,
  );
  if (result.ioWorkers.length > 0) reportIoWorkers(result.ioWorkers, logger);
  return result;
}

/**
 * io-wq workers started before the drop keep the start-up sets (the kernel keeps a thread's
 * last worker until the thread exits), but run each request they take with the credentials
 * of its submitter at submission: said once, as a fact of the drop, not a failure.
 */
function reportIoWorkers(workers: DropResult['ioWorkers'], logger: Logger): void {
  logger.info(
    { ioWorkers: workers.map((w) => `${w.tid} (${w.name})`) },
    `${workers.length} io_uring worker thread(s) started before the drop keep their start-up capabilities; the kernel runs each request they take with its submitter's (dropped) capabilities`,
  );
}
