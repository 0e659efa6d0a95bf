import type { CreateSettings, ReceiverFactory } from '../../pipeline/component.ts';
import { configSchema, type EbpfReceiverConfig } from './config.ts';
import { EbpfReceiver } from './receiver.ts';
import { resolveProgramSync, type ReceiverKeys, type ResolvedProgram } from './resolve.ts';
import { CollectorError, CollectorErrors, cut } from '../../errors.ts';
import { isAbsolute, resolve } from 'node:path';
import { MAX_OBJECT_BYTES, namedFileProblem } from '../../config/files.ts';

export const ebpfReceiverFactory: ReceiverFactory<EbpfReceiverConfig> = {
  type: 'ebpf',
  kind: 'receiver',
  configSchema,
  async create(settings, config) {
    return new EbpfReceiver(settings.id, config, programOf(config, settings), settings.logger);
  },
};

/**
 * The program each validated config resolved to (checkEbpfReceiverConfig), for create: the
 * object found and the metric definitions parsed once, when the config loads.
 */
const validated = new WeakMap<EbpfReceiverConfig, { configDir: string; program: ResolvedProgram }>();

/**
 * The program validation resolved for this config, or — for a config that did not go through
 * it (a component made in code) — resolved now, its problems under `receivers.<id>`.
 */
function programOf(config: EbpfReceiverConfig, settings: CreateSettings): ResolvedProgram {
  const done = validated.get(config);
  if (done !== undefined && done.configDir === settings.configDir) return done.program;
  const { program, errors } = resolveProgramSync(config, settings.configDir, {
    path: `receivers.${settings.id}`,
  });
  if (!program || errors.length > 0) throw new CollectorErrors(errors);
  return program;
}

/**
 * Config-time check beyond the schema: the metric definitions (inline, `metrics_file`
 * or the program's default `<name>.yaml`) exist and validate, positioned in their file.
 */
export function checkEbpfReceiverConfig(
  config: EbpfReceiverConfig,
  configDir: string,
  keys: ReceiverKeys,
): CollectorError[] {
  const { program, errors } = resolveProgramSync(config, configDir, keys);
  if (program !== undefined && errors.length === 0) validated.set(config, { configDir, program });
  // Files libbpf opens itself: regular files only, never a FIFO it would block on.
  if (config.btf_path !== undefined) {
    const file = isAbsolute(config.btf_path) ? config.btf_path : resolve(configDir, config.btf_path);
    const problem = namedFileProblem(file, MAX_OBJECT_BYTES);
    if (problem !== undefined)
      errors.push(
        new CollectorError('ERR_CONFIG_READ', `btf_path ${cut(file)} ${problem}`, {
          position: keys.positionOf?.('btf_path'),
          path: `${keys.path ?? 'receivers'}.btf_path`,
        }),
      );
  }
  for (const [target, file] of Object.entries(config.binaries)) {
    const problem = namedFileProblem(file, Number.MAX_SAFE_INTEGER);
    // A missing file may exist only where the agent runs; attach reports it.
    if (problem !== undefined && !problem.includes('(ENOENT)'))
      errors.push(
        new CollectorError('ERR_CONFIG_VALUE', `binaries: ${cut(file)} ${problem}`, {
          position: keys.positionAt?.(['binaries', target]),
          path: `${keys.path ?? 'receivers'}.binaries.${target}`,
        }),
      );
  }
  return errors;
}
