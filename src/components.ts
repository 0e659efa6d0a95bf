import type { ExporterFactory } from './pipeline/component.ts';
import type { Factories } from './pipeline/graph.ts';
import { ebpfReceiverFactory } from './receivers/ebpf/factory.ts';
import { ksymProcessorFactory } from './processors/ksym/factory.ts';
import { prometheusExporterFactory } from './exporters/prometheus/factory.ts';
import { otlpExporterFactory } from './exporters/otlp/factory.ts';

/** Every component type the agent knows, by kind. */
export const factories: Factories = {
  receivers: new Map([[ebpfReceiverFactory.type, ebpfReceiverFactory]]),
  processors: new Map([[ksymProcessorFactory.type, ksymProcessorFactory]]),
  exporters: new Map<string, ExporterFactory<any>>([
    [prometheusExporterFactory.type, prometheusExporterFactory],
    [otlpExporterFactory.type, otlpExporterFactory],
  ]),
  decoderProviders: new Map([['ksym', 'ksym']]),
};
