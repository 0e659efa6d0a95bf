import { Client, Metadata, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { agentVersion } from '../../version.ts';
import type { OtlpExporterConfig } from './config.ts';
import { isPlaintext } from './tls.ts';

/**
 * How the OTLP sender (sender.ts: queue, batches, retry) reaches a receiver: one transport
 * per exporter, shared by its metrics, spans and log records, taking serialized requests
 * (@opentelemetry/otlp-transformer's protobuf) and giving back the response bytes or the
 * error. The exporters differ only here: `otlp` speaks OTLP/gRPC (this file), `otlphttp`
 * OTLP/HTTP with protobuf bodies (../otlphttp/transport.ts). Each call has the exporter's
 * `timeout` as its deadline.
 */

export type OtlpSignal = 'metrics' | 'traces' | 'logs';

export type CallResult =
  { readonly ok: true; readonly response: Uint8Array } | { readonly ok: false; readonly error: unknown };

/** Raw protobuf requests and responses, any signal. */
export interface OtlpTransport {
  call(signal: OtlpSignal, body: Uint8Array): Promise<CallResult>;
  close(): void;
}

/** An exporter's way to its receiver; the transport opens with the first signal and closes with the last. */
export interface OtlpWire {
  /** `OTLP/gRPC`, `OTLP/HTTP`: for log lines. */
  readonly protocol: string;
  /** Where it sends, as a URL (describe(), log lines). */
  readonly endpoint: string;
  /** The transport, for a signal at start; throws (a config error) when that signal cannot be sent. */
  open(signal: OtlpSignal): OtlpTransport;
  /** One open() done with; the last one closes the transport. */
  release(): void;
}

/** An OtlpWire over one transport, created at the first open() and closed at the last release(). */
export function sharedWire(
  protocol: string,
  endpoint: string,
  /** Throws when the signal cannot be sent (e.g. no URL for it). */
  check: (signal: OtlpSignal) => void,
  create: () => OtlpTransport,
): OtlpWire {
  let transport: OtlpTransport | undefined;
  let users = 0;
  return {
    protocol,
    endpoint,
    open(signal) {
      check(signal);
      transport ??= create();
      users++;
      return transport;
    },
    release() {
      if (users === 0) return;
      users--;
      if (users > 0) return;
      transport?.close();
      transport = undefined;
    },
  };
}

/** Who is sending (the OTLP specification asks exporters to say), for both protocols. */
export const USER_AGENT = `ebpf-collector/${agentVersion}`;

const METHODS: Record<OtlpSignal, string> = {
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
};

/** OTLP/gRPC: the three Export methods over one @grpc/grpc-js channel, raw bytes in and out. */
export function grpcWire(config: OtlpExporterConfig, credentials: ChannelCredentials): OtlpWire {
  const url = `${isPlaintext(config) ? 'http' : 'https'}://${config.endpoint.target}`;
  return sharedWire(
    'OTLP/gRPC',
    url,
    () => undefined,
    () => new GrpcTransport(config, credentials),
  );
}

class GrpcTransport implements OtlpTransport {
  private readonly client: Client;
  private readonly metadata: Metadata;
  private readonly timeoutMs: number;

  constructor(config: OtlpExporterConfig, credentials: ChannelCredentials) {
    this.metadata = new Metadata();
    for (const [key, value] of Object.entries(config.headers)) this.metadata.set(key, value);
    this.timeoutMs = config.timeout;
    this.client = new Client(config.endpoint.target, credentials, {
      'grpc.primary_user_agent': USER_AGENT,
      // grpc-js compressionAlgorithms: 0 identity, 2 gzip
      'grpc.default_compression_algorithm': config.compression === 'gzip' ? 2 : 0,
      // The channel's own reconnect backoff (grpc-js: 1 s growing to 120 s, not configurable through
      // the OpenTelemetry exporter) would hold data back up to two minutes after a long outage ends;
      // capped at the retry interval, data resumes within one retry of the peer's return.
      'grpc.initial_reconnect_backoff_ms': Math.min(1_000, config.retry_on_failure.initial_interval),
      'grpc.max_reconnect_backoff_ms': Math.max(1, config.retry_on_failure.max_interval),
    });
  }

  call(signal: OtlpSignal, body: Uint8Array): Promise<CallResult> {
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
