import { Client, Metadata, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { OtlpExporterConfig } from './config.ts';
import { isPlaintext } from './tls.ts';

/**
 * How the `otlp` machinery (metrics collections, span and log queues, retry) reaches a
 * receiver. The exporters differ only here: `otlp` speaks OTLP/gRPC, `otlphttp`
 * OTLP/HTTP with protobuf bodies. Everything above this — what is sent, when, retried
 * and counted — is the same code.
 */

export type OtlpSignal = 'metrics' | 'traces' | 'logs';

export type CallResult =
  { readonly ok: true; readonly response: Uint8Array } | { readonly ok: false; readonly error: unknown };

export type AttemptResult = { readonly ok: true } | { readonly ok: false; readonly error: unknown };

/** Raw protobuf requests and responses for spans and log records. */
export interface EventTransport {
  call(signal: 'traces' | 'logs', body: Uint8Array): Promise<CallResult>;
  close(): void;
}

/** One metrics collection's resource per call. */
export interface MetricsClient {
  export(metrics: ResourceMetrics): Promise<AttemptResult>;
  /** Waits for an export in flight (at most its own deadline), then closes. */
  shutdown(): Promise<void>;
}

/** What an exporter opens at start, per protocol. */
export interface OtlpWire {
  /** `OTLP/gRPC`, `OTLP/HTTP`: for log lines. */
  readonly protocol: string;
  /** Where it sends, as a URL (describe(), log lines). */
  readonly endpoint: string;
  /** Opened at start when a metrics pipeline feeds the exporter; throws (a config error) when it cannot be. */
  metrics(): MetricsClient;
  /** Opened at start for the event signals in use; throws (a config error) when it cannot be. */
  events(signals: readonly ('traces' | 'logs')[]): EventTransport;
}

const METHODS = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
} as const;

/** The exporter's options type (its enums come from a package we do not depend on directly). */
type GrpcExporterOptions = NonNullable<ConstructorParameters<typeof OTLPMetricExporter>[0]>;

/** OTLP/gRPC: metrics through @opentelemetry/exporter-metrics-otlp-grpc, events over a raw @grpc/grpc-js channel. */
export function grpcWire(config: OtlpExporterConfig, credentials: ChannelCredentials): OtlpWire {
  const url = `${isPlaintext(config) ? 'http' : 'https'}://${config.endpoint.target}`;
  return {
    protocol: 'OTLP/gRPC',
    endpoint: url,
    metrics: () => grpcMetricsClient(config, credentials, url),
    events: () => new GrpcEventTransport(config, credentials),
  };
}

function grpcMetricsClient(
  config: OtlpExporterConfig,
  credentials: ChannelCredentials,
  url: string,
): MetricsClient {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(config.headers)) metadata.set(key, value);
  const client = new OTLPMetricExporter({
    // The scheme only shapes the address here; the credentials are given explicitly.
    url,
    credentials,
    metadata,
    compression: config.compression as GrpcExporterOptions['compression'],
    timeoutMillis: config.timeout,
    userAgent: 'ebpf-collector',
  });
  return {
    export: (metrics) =>
      new Promise((resolve) => {
        try {
          client.export(metrics, (r: ExportResult) =>
            resolve(r.code === ExportResultCode.SUCCESS ? { ok: true } : { ok: false, error: r.error }),
          );
        } catch (error) {
          resolve({ ok: false, error });
        }
      }),
    shutdown: () => client.shutdown(),
  };
}

/** One gRPC channel for the exporter's traces and logs: raw protobuf bytes in and out. */
class GrpcEventTransport implements EventTransport {
  private readonly client: Client;
  private readonly metadata: Metadata;
  private readonly timeoutMs: number;

  constructor(config: OtlpExporterConfig, credentials: ChannelCredentials) {
    this.metadata = new Metadata();
    for (const [key, value] of Object.entries(config.headers)) this.metadata.set(key, value);
    this.timeoutMs = config.timeout;
    this.client = new Client(config.endpoint.target, credentials, {
      'grpc.primary_user_agent': 'ebpf-collector',
      // grpc-js compressionAlgorithms: 0 identity, 2 gzip
      'grpc.default_compression_algorithm': config.compression === 'gzip' ? 2 : 0,
      // The channel's own reconnect backoff (grpc-js: 1 s growing to 120 s) would hold data back
      // up to two minutes after a long outage ends; cap it at the retry interval so data resumes
      // within one retry of the peer's return.
      'grpc.initial_reconnect_backoff_ms': Math.min(1_000, config.retry_on_failure.initial_interval),
      'grpc.max_reconnect_backoff_ms': Math.max(1, config.retry_on_failure.max_interval),
    });
  }

  call(signal: 'traces' | 'logs', body: Uint8Array): Promise<CallResult> {
    const identity = (b: Buffer): Buffer => b;
    return new Promise((resolve) => {
      try {
        this.client.makeUnaryRequest(
          METHODS[signal],
          identity,
          identity,
          Buffer.from(body.buffer, body.byteOffset, body.byteLength),
          this.metadata.clone(),
          { deadline: Date.now() + this.timeoutMs },
          (err: ServiceError | null, response?: Buffer) =>
            resolve(err ? { ok: false, error: err } : { ok: true, response: response ?? Buffer.alloc(0) }),
        );
      } catch (error) {
        resolve({ ok: false, error });
      }
    });
  }

  close(): void {
    this.client.close();
  }
}
