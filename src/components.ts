import type { Exporter, ExporterFactory, ProcessorFactory } from './pipeline/component.ts';
import type { Factories } from './pipeline/graph.ts';
import type { CollectorError, Position } from './errors.ts';
import { processorDecoders } from './decoders/index.ts';
import { checkEbpfReceiverConfig, ebpfReceiverFactory } from './receivers/ebpf/factory.ts';
import { ksymProcessorFactory } from './processors/ksym/factory.ts';
import { cgroupProcessorFactory } from './processors/cgroup/factory.ts';
import { containerProcessorFactory } from './processors/container/factory.ts';
import { relabelProcessorFactory } from './processors/relabel/factory.ts';
import { filterProcessorFactory } from './processors/filter/factory.ts';
import { attributesProcessorFactory } from './processors/attributes/factory.ts';
import { k8sAttributesProcessorFactory } from './processors/k8s_attributes/factory.ts';
import { resourceProcessorFactory } from './processors/resource/factory.ts';
import { checkPrometheusExporterConfig, prometheusExporterFactory } from './exporters/prometheus/factory.ts';
import { configSchema as otlpConfigSchema, type OtlpExporterConfig } from './exporters/otlp/config.ts';
import {
  configSchema as otlpHttpConfigSchema,
  type OtlpHttpExporterConfig,
} from './exporters/otlphttp/config.ts';

/**
 * An exporter whose implementation loads only when a pipeline creates one; its config is
 * checked without it. The OTLP exporters use it (gRPC, HTTP and the OTLP serializers: ~5 MB
 * of RSS and start time); components.test.ts checks each stands for its real factory.
 */
function lazyExporter<C>(
  type: string,
  configSchema: ExporterFactory<C>['configSchema'],
  load: () => Promise<ExporterFactory<C>>,
): ExporterFactory<C> {
  return {
    type,
    kind: 'exporter',
    pipelineTypes: ['metrics', 'traces', 'logs'],
    configSchema,
    async create(settings, config): Promise<Exporter> {
      return (await load()).create(settings, config);
    },
  };
}

export const otlpExporterFactory = lazyExporter<OtlpExporterConfig>(
  'otlp',
  otlpConfigSchema,
  async () => (await import('./exporters/otlp/factory.ts')).otlpExporterFactory,
);

export const otlpHttpExporterFactory = lazyExporter<OtlpHttpExporterConfig>(
  'otlphttp',
  otlpHttpConfigSchema,
  async () => (await import('./exporters/otlphttp/factory.ts')).otlpHttpExporterFactory,
);

/** Every component type the agent knows, by kind. */
export const factories: Factories = {
  receivers: new Map([[ebpfReceiverFactory.type, ebpfReceiverFactory]]),
  processors: new Map<string, ProcessorFactory<any>>([
    [ksymProcessorFactory.type, ksymProcessorFactory],
    [cgroupProcessorFactory.type, cgroupProcessorFactory],
    [containerProcessorFactory.type, containerProcessorFactory],
    [relabelProcessorFactory.type, relabelProcessorFactory],
    [filterProcessorFactory.type, filterProcessorFactory],
    [attributesProcessorFactory.type, attributesProcessorFactory],
    [k8sAttributesProcessorFactory.type, k8sAttributesProcessorFactory],
    [resourceProcessorFactory.type, resourceProcessorFactory],
  ]),
  exporters: new Map<string, ExporterFactory<any>>([
    [prometheusExporterFactory.type, prometheusExporterFactory],
    [otlpExporterFactory.type, otlpExporterFactory],
    [otlpHttpExporterFactory.type, otlpHttpExporterFactory],
  ]),
  decoderProviders: processorDecoders,
};

/** Where a component's keys were written, for a config check's errors. */
export interface ComponentKeys {
  /** `receivers.<id>` */
  readonly path: string;
  positionOf(key: string): Position | undefined;
  /** Where a nested key's value was written (`['web_config', 'tls_server_config', 'cert_file']`). */
  positionAt(path: readonly (string | number)[]): Position | undefined;
}

/** A check beyond a component's schema that needs files (metric definitions); run at config load. */
export type ConfigCheck = (config: never, configDir: string, keys: ComponentKeys) => CollectorError[];

/** Config checks by section and component type. */
export const configChecks: Readonly<
  Record<'receivers' | 'processors' | 'exporters', ReadonlyMap<string, ConfigCheck>>
> = {
  receivers: new Map<string, ConfigCheck>([[ebpfReceiverFactory.type, checkEbpfReceiverConfig]]),
  processors: new Map(),
  exporters: new Map<string, ConfigCheck>([[prometheusExporterFactory.type, checkPrometheusExporterConfig]]),
};
