import type { ExporterFactory } from '../../pipeline/component.ts';
import { configSchema, type PrometheusExporterConfig } from './config.ts';
import { PrometheusMetricsExporter } from './exporter.ts';

export const prometheusExporterFactory: ExporterFactory<PrometheusExporterConfig> = {
  type: 'prometheus',
  kind: 'exporter',
  configSchema,
  create(settings, config) {
    return new PrometheusMetricsExporter(config, settings.logger, settings.id);
  },
};
