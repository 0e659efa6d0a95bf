import { CollectorErrors } from '../../errors.ts';
import type { ReceiverFactory } from '../../pipeline/component.ts';
import { configSchema, type EbpfReceiverConfig } from './config.ts';
import { EbpfReceiver } from './receiver.ts';
import { resolveProgram, resolveProgramSync, type ReceiverKeys } from './resolve.ts';
import type { CollectorError } from '../../errors.ts';

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
  return resolveProgramSync(config, configDir, keys).errors;
}
