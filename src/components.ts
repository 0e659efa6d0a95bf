import type {
  Component,
  ComponentKind,
  ExporterFactory,
  Factory,
  ProcessorFactory,
} from './pipeline/component.ts';
import type { Factories } from './pipeline/graph.ts';
import type { CollectorError, Position } from './errors.ts';
import { processorDecoders } from './decoders/index.ts';
import { checkEbpfReceiverConfig, ebpfReceiverFactory } from './receivers/ebpf/factory.ts';
import { ksymProcessorFactory } from './processors/ksym/factory.ts';
import { cgroupProcessorFactory } from './processors/cgroup/factory.ts';
import { configSchema as containerSchema } from './processors/container/config.ts';
import { configSchema as relabelSchema } from './processors/relabel/config.ts';
import { configSchema as filterSchema } from './processors/filter/config.ts';
import { configSchema as attributesSchema } from './processors/attributes/config.ts';
import { configSchema as k8sAttributesSchema } from './processors/k8s_attributes/config.ts';
import { configSchema as resourceSchema } from './processors/resource/config.ts';
import { checkPrometheusExporterConfig, prometheusExporterFactory } from './exporters/prometheus/factory.ts';
import { configSchema as otlpConfigSchema, type OtlpExporterConfig } from './exporters/otlp/config.ts';
import {
  configSchema as otlpHttpConfigSchema,
  type OtlpHttpExporterConfig,
} from './exporters/otlphttp/config.ts';

/**
 * A component whose implementation loads only when a pipeline creates one; its config is
 * checked without it. The OTLP exporters (gRPC, HTTP and the OTLP serializers: ~5 MB of RSS
 * and start time) and the processors the default pipeline does not use (their code,
 * k8s_attributes' most of all) load this way; components.test.ts checks each stands for its
 * real factory.
 */
function lazy<C, T extends Component>(
  kind: ComponentKind,
  type: string,
  configSchema: Factory<C, T>['configSchema'],
  pipelineTypes: Factory<C, T>['pipelineTypes'],
  load: () => Promise<Factory<C, T>>,
): Factory<C, T> {
  return {
    type,
    kind,
    ...(pipelineTypes && { pipelineTypes }),
    configSchema,
    async create(settings, config): Promise<T> {
      return (await load()).create(settings, config);
    },
  };
}

const ALL_SIGNALS = ['metrics', 'traces', 'logs'] as const;

export const otlpExporterFactory: ExporterFactory<OtlpExporterConfig> = lazy(
  'exporter',
  'otlp',
  otlpConfigSchema,
  ALL_SIGNALS,
  async () => (await import('./exporters/otlp/factory.ts')).otlpExporterFactory,
);

export const otlpHttpExporterFactory: ExporterFactory<OtlpHttpExporterConfig> = lazy(
  'exporter',
  'otlphttp',
  otlpHttpConfigSchema,
  ALL_SIGNALS,
  async () => (await import('./exporters/otlphttp/factory.ts')).otlpHttpExporterFactory,
);

/** Processors loaded when a pipeline creates one (ksym and cgroup, the default pipeline's, at start). */
export const lazyProcessors: readonly ProcessorFactory<any>[] = [
  lazy('processor', 'container', containerSchema, undefined, async () => {
    return (await import('./processors/container/factory.ts')).containerProcessorFactory;
  }),
  lazy('processor', 'relabel', relabelSchema, undefined, async () => {
    return (await import('./processors/relabel/factory.ts')).relabelProcessorFactory;
  }),
  lazy('processor', 'filter', filterSchema, ALL_SIGNALS, async () => {
    return (await import('./processors/filter/factory.ts')).filterProcessorFactory;
  }),
  lazy('processor', 'attributes', attributesSchema, ALL_SIGNALS, async () => {
    return (await import('./processors/attributes/factory.ts')).attributesProcessorFactory;
  }),
  lazy('processor', 'k8s_attributes', k8sAttributesSchema, undefined, async () => {
    return (await import('./processors/k8s_attributes/factory.ts')).k8sAttributesProcessorFactory;
  }),
  lazy('processor', 'resource', resourceSchema, ALL_SIGNALS, async () => {
    return (await import('./processors/resource/factory.ts')).resourceProcessorFactory;
  }),
];

/** Every component type the agent knows, by kind. */
export const factories: Factories = {
  receivers: new Map([[ebpfReceiverFactory.type, ebpfReceiverFactory]]),
  processors: new Map<string, ProcessorFactory<any>>([
    [ksymProcessorFactory.type, ksymProcessorFactory],
    [cgroupProcessorFactory.type, cgroupProcessorFactory],
    ...lazyProcessors.map((f): [string, ProcessorFactory<any>] => [f.type, f]),
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
