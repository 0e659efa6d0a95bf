/**
 * The ebpf receiver's errors that name the config key to fix: which key gave the metric
 * definitions, and why no hook set of a program could run.
 */
import { CollectorError } from '../../errors.ts';
import type { EbpfReceiverConfig } from './config.ts';
import type { HookAttempt } from './loader.ts';

/** The key the metric definitions were given by: `metrics` inline, else `metrics_file`, else `program`. */
export function definitionsKey(config: EbpfReceiverConfig): string {
  if (config.metrics !== undefined) return 'metrics';
  return config.metrics_file !== undefined ? 'metrics_file' : 'program';
}

/** No hook set ran: a missing kaddrs symbol in every set is that key's error, else ERR_EBPF_NO_HOOK. */
export function noHookError(
  id: string,
  configName: string,
  config: EbpfReceiverConfig,
  attempts: readonly HookAttempt[],
): CollectorError {
  const kaddrs = attempts.length > 0 && attempts.every((a) => a.reason?.includes('[ERR_EBPF_KADDR]'));
  if (kaddrs) {
    return new CollectorError(
      'ERR_EBPF_KADDR',
      `${id}: ${attempts[0]?.reason?.replace(/ \[ERR_EBPF_KADDR\]$/, '') ?? 'kaddrs missing'}`,
      { path: `receivers.${id}.${config.kaddrs.length > 0 ? 'kaddrs' : definitionsKey(config)}` },
    );
  }
  return new CollectorError('ERR_EBPF_NO_HOOK', `${id}: program ${configName} cannot run on this kernel`, {
    path: `receivers.${id}.program`,
    details: attempts.flatMap((a) => [
      `${a.hook || 'default'}: ${a.reason ?? 'failed'}`,
      ...(a.details ?? []).slice(-5).map((d) => `  ${d}`),
    ]),
  });
}
