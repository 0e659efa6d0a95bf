import {
  Client,
  connectivityState as ConnectivityState,
  Metadata,
  type ChannelCredentials,
  type ServiceError,
} from '@grpc/grpc-js';
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
  | { readonly ok: true; readonly response: Uint8Array }
  | {
      readonly ok: false;
      readonly error: unknown;
      /** The attempt never had a connection to the receiver (refused, no handshake, TLS failed). */
      readonly unconnected?: boolean;
    };

/** Raw protobuf requests and responses, any signal. */
export interface OtlpTransport {
  call(signal: OtlpSignal, body: Uint8Array): Promise<CallResult>;
  /**
   * The wait before retrying an attempt that found no connection: true after `ms`, or as
   * soon as a connection to the receiver is up (it is back: data resumes at once, not at the
   * next backoff); false when `signal` aborts. Without it the sender just sleeps.
   */
  retryWait?(ms: number, signal: AbortSignal): Promise<boolean>;
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
  private connections = 0;

  constructor(config: OtlpExporterConfig, credentials: ChannelCredentials) {
    this.metadata = new Metadata();
    for (const [key, value] of Object.entries(config.headers)) this.metadata.set(key, value);
    this.timeoutMs = config.timeout;
    const cap = Math.max(1, Math.floor(config.retry_on_failure.max_interval / 1.2));
    this.client = new Client(config.endpoint.target, credentials, {
      'grpc.primary_user_agent': USER_AGENT,
      // grpc-js compressionAlgorithms: 0 identity, 2 gzip
      'grpc.default_compression_algorithm': config.compression === 'gzip' ? 2 : 0,
      // The channel's own reconnect backoff (grpc-js: 1 s growing to 120 s) paces its attempts
      // to reach a receiver that went away; the sender's retries wait for those (retryWait), so
      // it is what decides when data resumes. Capped so that with grpc-js's ±20 % jitter a
      // reconnect comes within max_interval: data resumes within one retry interval of the
      // receiver's return.
      'grpc.initial_reconnect_backoff_ms': Math.min(1_000, config.retry_on_failure.initial_interval, cap),
      'grpc.max_reconnect_backoff_ms': cap,
    });
    this.countConnections();
  }

  /** The channel's state; `connect`: ask an idle one to connect (it reconnects only when asked). */
  private state(connect: boolean): ConnectivityState {
    try {
      return this.client.getChannel().getConnectivityState(connect);
    } catch {
      return ConnectivityState.SHUTDOWN; // closed
    }
  }

  /** Counts the channel's connections (each time it becomes READY), for the life of the channel. */
  private countConnections(): void {
    const state = this.state(false);
    if (state === ConnectivityState.READY) this.connections++;
    if (state === ConnectivityState.SHUTDOWN) return;
    try {
      this.client.getChannel().watchConnectivityState(state, Infinity, () => this.countConnections());
    } catch {
      // closed
    }
  }

  retryWait(ms: number, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    const until = Date.now() + ms;
    return new Promise((resolve) => {
      let done = false;
      const finish = (result: boolean): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const onAbort = (): void => finish(false);
      const timer = setTimeout(() => finish(true), ms);
      signal.addEventListener('abort', onAbort, { once: true });
      // Each state change (the channel connecting, failing, backing off, idle) is looked at
      // until it is READY or the wait is over; looking asks an idle channel to connect.
      const look = (): void => {
        if (done) return;
        if (Date.now() >= until) return finish(true);
        const state = this.state(true);
        if (state === ConnectivityState.READY) return finish(true);
        if (state === ConnectivityState.SHUTDOWN) return; // closed: the timer ends the wait
        try {
          this.client.getChannel().watchConnectivityState(state, until, look);
        } catch {
          // closed meanwhile: the timer ends the wait
        }
      };
      look();
    });
  }

  call(signal: OtlpSignal, body: Uint8Array): Promise<CallResult> {
    const identity = (b: Buffer): Buffer => b;
    // Unconnected: the channel was not connected when the attempt began, nor at any time until it
    // failed. A failure on a connection (the receiver answered an error, or took the request and
    // dropped the connection) is not: retrying it at once could loop as fast as connections open.
    const connectedBefore = this.state(false) === ConnectivityState.READY;
    const connections = this.connections;
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
            resolve(
              err
                ? {
                    ok: false,
                    error: err,
                    ...(!connectedBefore && this.connections === connections ? { unconnected: true } : {}),
                  }
                : { ok: true, response: response ?? Buffer.alloc(0) },
            ),
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
