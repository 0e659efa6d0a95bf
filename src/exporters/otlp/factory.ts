import type { ExporterFactory } from '../../pipeline/component.ts';
import { configSchema, type OtlpExporterConfig } from './config.ts';
import { OtlpExporter } from './otlp.ts';
import { channelCredentials } from './tls.ts';
import { grpcWire } from './transport.ts';

export const otlpExporterFactory: ExporterFactory<OtlpExporterConfig> = {
  type: 'otlp',
  kind: 'exporter',
  pipelineTypes: ['metrics', 'traces', 'logs'],
  configSchema,
  create(settings, config) {
    // Reads and checks the TLS files now: a bad one is a config error, not a failing push.
    const credentials = channelCredentials(config, settings.configDir, `exporters.${settings.id}`);
    return new OtlpExporter(settings.id, config, grpcWire(config, credentials), settings.logger);
  },
};
