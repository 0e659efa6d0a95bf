import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { CollectorError, messageOf } from '../errors.ts';
import { listOf, suggestion } from '../config/describe.ts';
import { encodeConfig, type EncodeOptions } from '../config/types.ts';
import { isPlainMap, type LoadedConfig } from '../config/load.ts';
import { validateComponentConfig } from '../config/validate.ts';
import type { AgentHealth, Extension, ExtensionFactory, Host } from '../pipeline/component.ts';
import type { SelfTelemetry } from '../pipeline/telemetry.ts';
import { typeOf } from '../pipeline/wiring.ts';
import { healthCheckExtensionFactory } from './health_check/factory.ts';

/**
 * The collector's `extensions:` section: every extension type the agent knows, the check of
 * their configs (an unknown type is a positioned ERR_CONFIG_UNKNOWN_TYPE, never ignored), and
 * running the ones `service.extensions` enables. Extensions live beside the pipelines: they
 * start before the pipelines (a probe is answered, 503, while programs load) and stop after
 * them; a reload keeps them as they are.
 */
export const extensionFactories: ReadonlyMap<string, ExtensionFactory<any>> = new Map<
  string,
  ExtensionFactory<any>
>([[healthCheckExtensionFactory.type, healthCheckExtensionFactory]]);

export interface ExtensionConfig {
  readonly config: unknown;
  readonly configDir: string;
}

/**
 * Check every defined extension's config against its type's schema; returns the enabled ones
 * (in `service.extensions` order) and every problem.
 */
export function checkExtensions(
  loaded: LoadedConfig,
  enabled: readonly string[],
): { extensions: Map<string, ExtensionConfig>; problems: CollectorError[] } {
  const section = loaded.value['extensions'];
  const defined = isPlainMap(section) ? Object.keys(section) : [];
  const known = [...extensionFactories.keys()];
  const problems: CollectorError[] = [];
  const valid = new Map<string, ExtensionConfig>();
  for (const id of defined) {
    const type = typeOf(id);
    const factory = extensionFactories.get(type);
    if (!factory) {
      problems.push(
        new CollectorError(
          'ERR_CONFIG_UNKNOWN_TYPE',
          `unknown extension type "${type}"; expected one of ${listOf(known)}${suggestion(type, known)}`,
          { position: loaded.positionOf(['extensions', id], 'key'), path: `extensions.${id}` },
        ),
      );
      continue;
    }
    const schema = factory.configSchema as z.ZodType<unknown>;
    const { value, errors } = validateComponentConfig(schema, loaded, ['extensions', id]);
    problems.push(...errors);
    if (errors.length > 0) continue;
    const pos = loaded.positionOf(['extensions', id], 'key');
    valid.set(id, { config: value, configDir: pos ? dirname(resolve(pos.file)) : process.cwd() });
  }
  const extensions = new Map<string, ExtensionConfig>();
  for (const id of enabled) {
    const c = valid.get(id);
    if (c) extensions.set(id, c);
  }
  return { extensions, problems };
}

/** The extensions as a user writes them, defaults applied (print-config). */
export function encodeExtensions(
  extensions: ReadonlyMap<string, ExtensionConfig>,
  opts: EncodeOptions,
): Record<string, unknown> {
  return Object.fromEntries(
    [...extensions].map(([id, c]) => {
      const schema = extensionFactories.get(typeOf(id))?.configSchema;
      return [id, schema ? encodeConfig(schema, c.config, opts) : c.config];
    }),
  );
}

export interface RunningExtensions {
  readonly list: readonly { readonly id: string; readonly component: Extension }[];
  /** Stop them (reverse order); safe twice, never throws. */
  shutdown(): Promise<void>;
  describe(): Record<string, unknown>[];
}

/**
 * Create and start the enabled extensions; `health` is the agent's. A failure to start one
 * (its port taken) stops those started and throws.
 */
export async function startExtensions(
  extensions: ReadonlyMap<string, ExtensionConfig>,
  agent: { readonly telemetry: SelfTelemetry; health(): AgentHealth },
  logger: Logger,
): Promise<RunningExtensions> {
  const list: { id: string; component: Extension }[] = [];
  let stopping: Promise<void> | undefined;
  const running: RunningExtensions = {
    list,
    shutdown: () =>
      (stopping ??= (async () => {
        for (const { id, component } of [...list].reverse()) {
          try {
            await component.shutdown();
          } catch (err) {
            logger.error({ id, err: messageOf(err) }, 'shutdown failed');
          }
        }
      })()),
    describe: () => list.map(({ id, component }) => ({ id, ...(component.describe?.() ?? {}) })),
  };
  const host: Host = {
    logger,
    telemetry: agent.telemetry,
    pull: async () => undefined,
    ready: () => agent.health().ready,
    health: () => agent.health(),
  };
  try {
    for (const [id, { config, configDir }] of extensions) {
      const factory = extensionFactories.get(typeOf(id));
      if (!factory) continue; // reported by checkExtensions
      const component = await factory.create(
        { id, configDir, logger: logger.child({ kind: 'extension', id }) },
        config,
      );
      list.push({ id, component });
      await component.start({ ...host, logger: logger.child({ kind: 'extension', id }) });
    }
  } catch (err) {
    await running.shutdown();
    throw err;
  }
  return running;
}
