/**
 * A real OTLP receiver for tests, over gRPC and over HTTP (`http/protobuf`).
 *
 * gRPC: a @grpc/grpc-js Server on 127.0.0.1 serving
 * `opentelemetry.proto.collector.metrics.v1.MetricsService/Export`, decoding requests
 * with the protobufjs root of @opentelemetry/otlp-transformer 0.215.0 (the last line that
 * shipped one; dev-dependency alias `otlp-proto-legacy`), and the trace and logs services
 * (`…trace.v1.TraceService/Export`, `…logs.v1.LogsService/Export`), decoded with our own
 * wire reader (otlp-wire.ts; that root has no logs messages).
 *
 * Clients connect through a byte-counting TCP relay in front of the server, so a test can
 * see what went over the wire (e.g. that gzip made the request smaller than its protobuf).
 * Answers can be scripted: `failNext(UNAVAILABLE, UNAVAILABLE)` fails the next two calls;
 * `failNext({ code: UNAVAILABLE, retryDelayMs: 50 })` fails with a google.rpc.RetryInfo in the
 * status details (trailer `grpc-status-details-bin`), as an overloaded receiver does.
 *
 * HTTP: a node:http(s) server at `httpUrl` taking POSTs of `application/x-protobuf` (gzip
 * or not) on /v1/metrics, /v1/traces and /v1/logs, decoded the same way and recorded in the
 * same `calls`, `traceCalls`, `logCalls` (metadata: the request headers). Answers are
 * scripted per signal with `failNextHttp('traces', 503, { status: 429, retryAfter: '1' })`;
 * `rejectNext` and `hold` apply to both protocols.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, connect, type Server as NetServer, type Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import {
  Metadata,
  Server,
  ServerCredentials,
  type StatusObject,
  type ServerUnaryCall,
  type sendUnaryData,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import {
  decodeMetricsRequest,
  digestOf,
  metricsOf,
  metricsResponse,
  type ExportRequest,
  type OtlpMetric,
  type ReceivedEventCall,
  type ReceivedExport,
} from './otlp-decoded.ts';
import {
  LOGS_REQUEST,
  TRACE_REQUEST,
  decode,
  partialSuccessResponse,
  statusWithRetryInfo,
  type WireLogsRequest,
  type WireTraceRequest,
} from './otlp-wire.ts';

export {
  attributesOf,
  digestOf,
  logRecordsOf,
  pointsOf,
  spansOf,
  TEMPORALITY,
  typedAttributes,
  type ExponentialHistogramDataPoint,
  type ExportRequest,
  type HistogramDataPoint,
  type KeyValue,
  type NumberDataPoint,
  type OtlpMetric,
  type ReceivedEventCall,
  type ReceivedExport,
} from './otlp-decoded.ts';

/** A scripted OTLP/HTTP answer: a status, or a status with a `Retry-After` header. */
export type HttpAnswer = number | { readonly status: number; readonly retryAfter?: string };

export interface OtlpReceiver {
  /** `127.0.0.1:port` to give the exporter. */
  readonly endpoint: string;
  /** `http://127.0.0.1:port` (https with `tls`): the OTLP/HTTP base URL. */
  readonly httpUrl: string;
  /** Answer the next OTLP/HTTP requests of a signal with these statuses, then 200 again. */
  failNextHttp(signal: 'metrics' | EventSignal, ...answers: HttpAnswer[]): void;
  /** Every call, in order, including those answered with an error. */
  readonly calls: ReceivedExport[];
  /** Bytes clients sent over TCP (all connections). */
  wireBytesIn(): number;
  /** Answer the next calls with these gRPC status codes (one per call), then OK again. */
  failNext(...answers: GrpcAnswer[]): void;
  /** Resolves when `n` calls have been received (rejects after `timeoutMs`). */
  waitForCalls(n: number, timeoutMs?: number): Promise<ReceivedExport[]>;
  /** All metrics of one call, flattened over resources and scopes. */
  metricsOf(call: ReceivedExport): OtlpMetric[];
  /** Trace and logs export calls, in order, including those answered with an error. */
  readonly traceCalls: ReceivedEventCall<WireTraceRequest>[];
  readonly logCalls: ReceivedEventCall<WireLogsRequest>[];
  /** Answer the next trace (logs) calls with these gRPC status codes, then OK again. */
  failNextEvents(signal: EventSignal, ...codes: number[]): void;
  /** Answer the next OK trace (logs) call with a partial success rejecting `count` records. */
  rejectNext(signal: EventSignal, count: number, message: string): void;
  /** Hold trace (logs) answers until release(): a slow receiver. */
  hold(signal: EventSignal): void;
  release(signal: EventSignal): void;
  /** Resolves when `n` trace (logs) calls have been received (rejects after `timeoutMs`). */
  waitForEventCalls(signal: EventSignal, n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export type EventSignal = 'traces' | 'logs';

const METHOD = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';
const TRACE_METHOD = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const LOGS_METHOD = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';

/** A scripted gRPC answer: a status code, or a code with a RetryInfo asking for `retryDelayMs`. */
export type GrpcAnswer = number | { readonly code: number; readonly retryDelayMs: number };

const codeOf = (a: GrpcAnswer): number => (typeof a === 'number' ? a : a.code);

function grpcError(a: GrpcAnswer): Partial<StatusObject> {
  const code = codeOf(a);
  const details = `scripted failure ${code}`;
  if (typeof a === 'number') return { code, details };
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', statusWithRetryInfo(code, details, a.retryDelayMs));
  return { code, details, metadata };
}

export interface OtlpReceiverOptions {
  /** Serve TLS with this certificate chain and key (PEM). */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  /** Listen on this port (e.g. to come back where a stopped receiver was); default: a free one. */
  readonly port?: number;
}

export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const calls: ReceivedExport[] = [];
  const failures: GrpcAnswer[] = [];
  const waiters: (() => void)[] = [];
  let wireBytes = 0;

  const server = new Server();
  const traceCalls: ReceivedEventCall<WireTraceRequest>[] = [];
  const logCalls: ReceivedEventCall<WireLogsRequest>[] = [];
  const events = { traces: eventScript(traceCalls), logs: eventScript(logCalls) };
  const eventHandler =
    (signal: EventSignal) => (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      const e = events[signal];
      let request: Record<string, unknown>;
      try {
        request = decode(call.request, signal === 'traces' ? TRACE_REQUEST : LOGS_REQUEST);
      } catch (err) {
        callback({ code: 3, details: `cannot decode: ${String(err)}` });
        return;
      }
      const code = e.failures.shift() ?? 0;
      const reject = code === 0 ? e.rejects.shift() : undefined;
      (e.calls as ReceivedEventCall<unknown>[]).push({
        request,
        metadata: stringMetadata(call.metadata),
        bytes: call.request.length,
        digest: digestOf(call.request),
        answered: code,
      });
      for (const w of waiters.splice(0)) w();
      const answer = (): void => {
        if (code !== 0) callback({ code, details: `scripted failure ${code}` });
        else callback(null, reject ? partialSuccessResponse(reject[0], reject[1]) : Buffer.alloc(0));
      };
      if (e.held) e.queue.push(answer);
      else answer();
    };
  server.addService(exportService(TRACE_METHOD), { Export: eventHandler('traces') });
  server.addService(exportService(LOGS_METHOD), { Export: eventHandler('logs') });
  server.addService(exportService(METHOD), {
    Export: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      const scripted = failures.shift() ?? 0;
      const code = codeOf(scripted);
      let request: ExportRequest;
      try {
        request = decodeMetricsRequest(call.request);
      } catch (err) {
        callback({ code: 3, details: `cannot decode: ${String(err)}` });
        return;
      }
      calls.push({
        request,
        metadata: stringMetadata(call.metadata),
        bytes: call.request.length,
        digest: digestOf(call.request),
        answered: code,
      });
      for (const w of waiters.splice(0)) w();
      if (code !== 0) callback(grpcError(scripted));
      else callback(null, metricsResponse());
    },
  });
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', serverCredentials(options), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );

  // OTLP/HTTP: the same decoding and records, scripted per signal.
  const httpFailures: Record<'metrics' | EventSignal, HttpAnswer[]> = { metrics: [], traces: [], logs: [] };
  const PATHS: Record<string, 'metrics' | EventSignal> = {
    '/v1/metrics': 'metrics',
    '/v1/traces': 'traces',
    '/v1/logs': 'logs',
  };
  const onHttp = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const signal = PATHS[req.url ?? ''];
      if (!signal || req.method !== 'POST') {
        res.writeHead(signal ? 405 : 404).end();
        return;
      }
      if (req.headers['content-type'] !== 'application/x-protobuf') {
        res.writeHead(415).end('expected application/x-protobuf');
        return;
      }
      let body: Buffer;
      let request: unknown;
      try {
        const raw = Buffer.concat(chunks);
        body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
        request =
          signal === 'metrics'
            ? decodeMetricsRequest(body)
            : decode(body, signal === 'traces' ? TRACE_REQUEST : LOGS_REQUEST);
      } catch (err) {
        res.writeHead(400).end(`cannot decode: ${String(err)}`);
        return;
      }
      const scripted = httpFailures[signal].shift();
      const status = scripted === undefined ? 200 : typeof scripted === 'number' ? scripted : scripted.status;
      const retryAfter = typeof scripted === 'object' ? scripted.retryAfter : undefined;
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') metadata[k] = v;
      const call = {
        request,
        metadata,
        bytes: body.length,
        digest: digestOf(body),
        answered: status === 200 ? 0 : status,
      };
      (signal === 'metrics' ? calls : events[signal].calls).push(call as never);
      for (const w of waiters.splice(0)) w();
      if (status !== 200) {
        res
          .writeHead(status, retryAfter !== undefined ? { 'retry-after': retryAfter } : {})
          .end('scripted failure');
        return;
      }
      const reply = (answer: Buffer): void => {
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(answer);
      };
      if (signal === 'metrics') {
        reply(metricsResponse());
        return;
      }
      const e = events[signal];
      const reject = e.rejects.shift();
      const answer = (): void =>
        reply(reject ? partialSuccessResponse(reject[0], reject[1]) : Buffer.alloc(0));
      if (e.held) e.queue.push(answer);
      else answer();
    });
  };
  const httpServer = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, onHttp)
    : createHttpServer(onHttp);
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const httpAddress = httpServer.address();
  if (httpAddress === null || typeof httpAddress === 'string')
    throw new Error('HTTP server has no TCP address');

  // The relay: count client → server bytes.
  const sockets = new Set<Socket>();
  const relay: NetServer = createServer((client) => {
    const upstream = connect(grpcPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => {
      wireBytes += d.length;
      upstream.write(d);
    });
    upstream.pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve, reject) => {
    relay.once('error', reject);
    relay.listen(options.port ?? 0, '127.0.0.1', () => {
      relay.off('error', reject);
      resolve();
    });
  });
  const address = relay.address();
  if (address === null || typeof address === 'string') throw new Error('relay has no TCP address');

  const release = (signal: EventSignal): void => {
    events[signal].held = false;
    for (const answer of events[signal].queue.splice(0)) answer();
  };
  /** Resolves when `have()` reaches `n` (every recorded call wakes the waiters to look again). */
  const waitUntil = async (have: () => number, n: number, timeoutMs: number, what: string): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (have() < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${n} ${what}, got ${have()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  };

  return {
    endpoint: `127.0.0.1:${address.port}`,
    httpUrl: `${options.tls ? 'https' : 'http'}://127.0.0.1:${httpAddress.port}`,
    failNextHttp: (signal, ...answers) => {
      httpFailures[signal].push(...answers);
    },
    calls,
    wireBytesIn: () => wireBytes,
    failNext: (...answers) => {
      failures.push(...answers);
    },
    async waitForCalls(n, timeoutMs = 5_000) {
      await waitUntil(() => calls.length, n, timeoutMs, 'OTLP calls');
      return calls.slice(0, n);
    },
    traceCalls,
    logCalls,
    failNextEvents: (signal, ...codes) => {
      events[signal].failures.push(...codes);
    },
    rejectNext: (signal, count, message) => {
      events[signal].rejects.push([count, message]);
    },
    hold: (signal) => {
      events[signal].held = true;
    },
    release,
    async waitForEventCalls(signal, n, timeoutMs = 5_000) {
      await waitUntil(() => events[signal].calls.length, n, timeoutMs, `OTLP ${signal} calls`);
    },
    metricsOf,
    async close() {
      release('traces');
      release('logs');
      for (const s of sockets) s.destroy();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      await new Promise<void>((resolve) => relay.close(() => resolve()));
      server.forceShutdown();
    },
  };
}

/** What is scripted for one event signal: failures, partial-success rejects, held answers. */
function eventScript<T>(calls: ReceivedEventCall<T>[]) {
  return {
    calls,
    failures: [] as number[],
    rejects: [] as [number, string][],
    held: false,
    queue: [] as (() => void)[],
  };
}

const identity = (b: Buffer): Buffer => b;

/** A unary `Export` service at `path` taking and answering raw bytes (decoded by the handler). */
function exportService(path: string): ServiceDefinition {
  return {
    Export: {
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  };
}

function serverCredentials(options: OtlpReceiverOptions): ServerCredentials {
  const tls = options.tls;
  if (!tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(null, [{ cert_chain: tls.cert, private_key: tls.key }], false);
}

function stringMetadata(md: Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.getMap())) out[k] = typeof v === 'string' ? v : v.toString('base64');
  return out;
}
