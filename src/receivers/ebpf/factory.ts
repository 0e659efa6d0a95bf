import type { ReceiverFactory } from '../../pipeline/component.ts';
import { configSchema, type EbpfReceiverConfig } from './config.ts';
import { EbpfReceiver } from './receiver.ts';
import { resolveProgram, resolveProgramSync, type ReceiverKeys } from './resolve.ts';
import { CollectorError, CollectorErrors, cut } from '../../errors.ts';
import { isAbsolute, resolve } from 'node:path';
import { MAX_OBJECT_BYTES, namedFileProblem } from '../../config/files.ts';

export const ebpfReceiverFactory: ReceiverFactory<EbpfReceiverConfig> = {
  type: 'ebpf',
  kind: 'receiver',
  configSchema,
  async create(settings, config) {
    const { program, errors } = await resolveProgram(config, settings.configDir);
    if (!program || errors.length > 0)
      throw new CollectorErrors(errors.map((e) => prefixPath(e, settings.id)));
    return new EbpfReceiver(settings.id, config, program, settings.logger);
  },
};

function prefixPath<E extends { path: string | undefined }>(e: E, id: string): E {
  const positioned = (e as { position?: unknown }).position !== undefined;
  if (e.path !== undefined && !positioned && !e.path.startsWith('receivers.')) {
    Object.defineProperty(e, 'path', { value: `receivers.${id}.${e.path}` });
  }
  return e;
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
  const errors = resolveProgramSync(config, configDir, keys).errors;
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
