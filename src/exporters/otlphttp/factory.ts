import type { ExporterFactory } from '../../pipeline/component.ts';
import { OtlpExporter } from '../otlp/otlp.ts';
import { readTlsFiles } from '../otlp/tls.ts';
import { configSchema, usesTls, type OtlpHttpExporterConfig } from './config.ts';
import { httpWire } from './transport.ts';

/**
 * exporter `otlphttp`: the `otlp` exporter's collections, queues and retry over
 * OTLP/HTTP (http/protobuf) instead of gRPC.
 */
export const otlpHttpExporterFactory: ExporterFactory<OtlpHttpExporterConfig> = {
  type: 'otlphttp',
  kind: 'exporter',
  pipelineTypes: ['metrics', 'traces', 'logs'],
  configSchema,
  create(settings, config) {
    // Reads and checks the TLS files now: a bad one is a config error, not a failing push.
    const path = `exporters.${settings.id}`;
    const tls = usesTls(config) ? readTlsFiles(config.tls, settings.configDir, path) : {};
    return new OtlpExporter(settings.id, config, httpWire(config, tls, path), settings.logger);
  },
};
