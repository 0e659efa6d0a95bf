import { isAbsolute, resolve } from 'node:path';
import { CollectorErrors, type CollectorError, type Position } from '../../errors.ts';
import type { ExporterFactory } from '../../pipeline/component.ts';
import { configSchema, type PrometheusExporterConfig } from './config.ts';
import { PrometheusMetricsExporter } from './exporter.ts';
import { loadWebSettings, WebGuard, type WebConfigSource } from './websecurity.ts';

export const prometheusExporterFactory: ExporterFactory<PrometheusExporterConfig> = {
  type: 'prometheus',
  kind: 'exporter',
  configSchema,
  create(settings, config) {
    const source = webConfigSource(config, settings.configDir, { path: `exporters.${settings.id}` });
    // Reads and checks the web config now: a bad one is a config error, not a failing scrape.
    const web = source
      ? new WebGuard(source, loadWebSettings(source), settings.logger.child({ web_config: true }))
      : undefined;
    return new PrometheusMetricsExporter(config, settings.logger, settings.id, web);
  },
};

/** Where the exporter's keys were written (the agent's ComponentKeys). */
export interface ExporterKeys {
  /** `exporters.<id>` */
  readonly path: string;
  positionAt?(path: readonly (string | number)[]): Position | undefined;
}

/** Where the exporter's web config comes from, if it has one. */
export function webConfigSource(
  config: PrometheusExporterConfig,
  configDir: string,
  keys: ExporterKeys,
): WebConfigSource | undefined {
  if (config.web_config_file !== undefined) {
    const f = config.web_config_file;
    return {
      file: isAbsolute(f) ? f : resolve(configDir, f),
      namedAt: { path: `${keys.path}.web_config_file`, position: keys.positionAt?.(['web_config_file']) },
    };
  }
  if (config.web_config !== undefined) {
    return {
      inline: config.web_config,
      baseDir: configDir,
      prefix: `${keys.path}.web_config`,
      positionOf: (p) => keys.positionAt?.(['web_config', ...p]),
    };
  }
  return undefined;
}

/** Config-time check beyond the schema: the web config and the files it names load. */
export function checkPrometheusExporterConfig(
  config: PrometheusExporterConfig,
  configDir: string,
  keys: ExporterKeys,
): CollectorError[] {
  const source = webConfigSource(config, configDir, keys);
  if (!source) return [];
  try {
    loadWebSettings(source);
    return [];
  } catch (err) {
    if (err instanceof CollectorErrors) return [...err.errors];
    throw err;
  }
}
