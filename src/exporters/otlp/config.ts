import { z } from 'zod';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import { describeInput, quote } from '../../config/describe.ts';
import { configIssue, duration, encodedAs, parseHostPort, secret } from '../../config/types.ts';

/** Where to send: `host:port` (TLS unless `tls.insecure`), `http://host:port` or `https://host[:port]`. */
export interface OtlpEndpoint {
  /** `host:port` (or `host` when an https URL gives no port: gRPC then uses 443). IPv6 in brackets. */
  readonly target: string;
  /** From the scheme: `http` → false, `https` → true; undefined without a scheme (`tls.insecure` decides). */
  readonly tls: boolean | undefined;
}

const ENDPOINT_EXPECTED = 'an endpoint like "otel-collector:4317" or "https://otel.example.com:4317"';

/** Parse an endpoint, or give an error text. */
export function parseEndpoint(text: string): OtlpEndpoint | string {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text);
  if (scheme) {
    const s = (scheme[1] as string).toLowerCase();
    if (s !== 'http' && s !== 'https') return `the scheme must be http:// or https://, got "${s}://"`;
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return 'not a valid URL';
    }
    if (url.hostname === '') return 'the host is missing';
    if (url.pathname !== '/' && url.pathname !== '') return 'gRPC endpoints take no path; remove it';
    if (url.search !== '' || url.hash !== '') return 'gRPC endpoints take no query or fragment';
    if (url.username !== '' || url.password !== '') return 'put credentials in headers, not in the URL';
    if (url.port === '' && s === 'http') return 'the port is missing (OTLP/gRPC listens on 4317)';
    // url.host keeps IPv6 brackets and drops a default port, which gRPC would use anyway
    return { target: url.port === '' ? url.hostname : `${url.hostname}:${url.port}`, tls: s === 'https' };
  }
  const hp = parseHostPort(text);
  if (typeof hp === 'string') return hp;
  if (hp.host === '') return 'the host is missing';
  if (hp.port === 0) return 'the port must not be 0';
  const host = hp.host.includes(':') ? `[${hp.host}]` : hp.host;
  return { target: `${host}:${hp.port}`, tls: undefined };
}

/** An endpoint as written: the scheme when one decided TLS, else `host:port`. */
export function formatEndpoint(e: OtlpEndpoint): string {
  return e.tls === undefined ? e.target : `${e.tls ? 'https' : 'http'}://${e.target}`;
}

function endpoint(): z.ZodType<OtlpEndpoint, unknown> {
  return encodedAs(
    formatEndpoint,
    z.unknown().transform((input, ctx): OtlpEndpoint => {
      if (input === undefined) {
        return configIssue(ctx, input, C.missing, `missing required key; expected ${ENDPOINT_EXPECTED}`);
      }
      if (typeof input !== 'string') {
        return configIssue(
          ctx,
          input,
          C.type,
          `expected ${ENDPOINT_EXPECTED}, got ${describeInput(input)}`,
          ENDPOINT_EXPECTED,
        );
      }
      const r = parseEndpoint(input.trim());
      if (typeof r === 'string')
        return configIssue(ctx, input, C.value, `expected ${ENDPOINT_EXPECTED}, got ${quote(input)}: ${r}`);
      return r;
    }),
    { type: 'string', description: ENDPOINT_EXPECTED },
  );
}

/** gRPC metadata keys (grpc-js lowercases them); `-bin` keys would need binary values, `grpc-` is reserved. */
const HEADER_KEY = /^[0-9a-zA-Z_.-]+$/;
/** Printable ASCII, as gRPC requires of text metadata. */
const HEADER_VALUE = /^[\x20-\x7e]*$/;

const headerKey = z.string().superRefine((key, ctx) => {
  const problem = !HEADER_KEY.test(key)
    ? 'may hold only letters, digits, "-", "_" and "."'
    : key.toLowerCase().endsWith('-bin')
      ? 'must not end in "-bin" (binary metadata is not supported)'
      : key.toLowerCase().startsWith('grpc-')
        ? 'must not start with "grpc-" (reserved by gRPC)'
        : undefined;
  if (problem) configIssue(ctx, key, C.value, `header name ${quote(key)} ${problem}`);
});

const headerValue = z
  .string()
  .regex(HEADER_VALUE, 'header values may hold only printable ASCII (gRPC text metadata)');

/**
 * A key the Collector has that this agent cannot honour: accepted by name, so the
 * message says why instead of "unknown key", and always an error.
 */
export function notSupported(why: string) {
  return z
    .unknown()
    .optional()
    .transform((input, ctx): undefined =>
      input === undefined ? undefined : configIssue(ctx, input, C.value, `not supported: ${why}`),
    );
}

/** The Collector's TLS client keys (configtls) this agent cannot honour, with why. */
const TLS_NOT_SUPPORTED = {
  ca_pem: notSupported('give the CA as a file (ca_file)'),
  cert_pem: notSupported('give the certificate as a file (cert_file)'),
  key_pem: notSupported('give the key as a file (key_file)'),
  min_version: notSupported("Node's TLS 1.2 minimum is used"),
  max_version: notSupported('the newest TLS version both sides have is used'),
  cipher_suites: notSupported("Node's default cipher suites are used"),
  reload_interval: notSupported('TLS files are read once, at start'),
  server_name_override: notSupported('the endpoint host name is the server name'),
  include_system_ca_certs_pool: notSupported('ca_file replaces the system CAs'),
};

export const tlsSchema = z.strictObject({
  /** Plaintext gRPC (no TLS) for an endpoint given without a scheme. */
  insecure: z.boolean().default(false),
  /** TLS without verifying the server's certificate or name (testing only). */
  insecure_skip_verify: z.boolean().default(false),
  /** CA certificates (PEM) to verify the server with, instead of the system's. */
  ca_file: z.string().min(1, 'give a path or remove the key').optional(),
  /** Client certificate (PEM) for mutual TLS; needs key_file. */
  cert_file: z.string().min(1, 'give a path or remove the key').optional(),
  /** Client private key (PEM) for mutual TLS; needs cert_file. */
  key_file: z.string().min(1, 'give a path or remove the key').optional(),
  ...TLS_NOT_SUPPORTED,
});

const retrySchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Wait before the first retry; each next wait is 1.5× longer (±50% jitter). */
  initial_interval: duration({ minMs: 1 }).default(1_000),
  /**
   * Longest wait between two attempts; it also caps a wait the receiver asks for (gRPC
   * RetryInfo, HTTP Retry-After), and the gRPC channel reconnects within it (transport.ts).
   */
  max_interval: duration({ minMs: 1 }).default(30_000),
  /** Growth of the wait per retry. */
  multiplier: z.number().min(1).max(10).default(1.5),
  /** Jitter: each wait is drawn from wait × [1 − r, 1 + r]. */
  randomization_factor: z.number().min(0).max(1).default(0.5),
  /** Give up on a request after this long since its first attempt; 0: never give up (as the Collector). */
  max_elapsed_time: duration({ minMs: 0 }).default(300_000),
});

/** Spans and log records: a bounded queue per signal, sent in batches. (Metrics have their own one-collection queue.) */
const sendingQueueSchema = z.strictObject({
  /** Only true: kernel events cannot wait for a send, so records always queue (bounded by queue_size). */
  enabled: z
    .boolean()
    .default(true)
    .superRefine((on, ctx) => {
      if (!on)
        configIssue(
          ctx,
          on,
          C.value,
          'not supported: the queue cannot be turned off (kernel events cannot wait for a send); bound it with queue_size',
        );
    }),
  /** Requests in flight per signal for spans and log records (metrics: always one collection). */
  num_consumers: z.number().int().min(1).max(64).default(1),
  /** Spans (log records) waiting per signal; beyond it the oldest are dropped and counted. */
  queue_size: z.number().int().min(1).max(1_000_000).default(10_000),
  batch: z
    .strictObject({
      /** Send what is queued after this long, even if less than max_size. */
      flush_timeout: duration({ minMs: 1 }).default(200),
      /** Spans (log records) per request at most; a full batch is sent at once. */
      max_size: z.number().int().min(1).max(100_000).default(512),
    })
    .prefault({}),
  storage: notSupported('there is no persistent queue; records are held in memory'),
  sizer: notSupported('queue_size counts records (spans, log records)'),
  block_on_overflow: notSupported('kernel events cannot wait; the oldest are dropped and counted'),
  blocking: notSupported('kernel events cannot wait; the oldest are dropped and counted'),
  wait_for_result: notSupported('the pipeline never waits for a send'),
});

/** The keys every OTLP exporter has with the same meaning (`otlp`, `otlphttp`). */
export const commonFields = {
  /** gzip by default, as the Collector's OTLP exporters: label-heavy metric payloads shrink several-fold. */
  compression: z.enum(['gzip', 'none']).default('gzip'),
  /** Deadline of one export attempt; also bounds the final export at shutdown. */
  timeout: duration({ minMs: 1 }).default(10_000),
  /** How often to collect and push. */
  interval: duration({ minMs: 100 }).default(15_000),
  /** `exponential`: power-of-two histograms go out as exponential histograms at scale 0. */
  histograms: z.enum(['explicit', 'exponential']).default('explicit'),
  /**
   * Pod and container labels our processors write in Prometheus form (`k8s_pod_name`,
   * `container_id`, …) move to the resource (README, "Pods and containers as resources"):
   * `semantic` (default) under their semantic-convention names (`k8s.pod.name`, `container.id`);
   * `as_is` under the label names.
   */
  attribute_names: z.enum(['semantic', 'as_is']).default('semantic'),
  retry_on_failure: retrySchema.prefault({}),
  sending_queue: sendingQueueSchema.prefault({}),
};

export type TlsConfig = Omit<z.infer<typeof tlsSchema>, 'insecure'>;

/**
 * Checks between keys that every OTLP exporter shares: TLS settings on a plaintext
 * endpoint (`plaintext` says why it is plaintext, e.g. "http://"), a half client
 * certificate, a backoff that shrinks.
 */
export function checkCommon(
  c: {
    readonly tls: TlsConfig;
    readonly retry_on_failure: { max_interval: number; initial_interval: number };
  },
  plaintext: string | undefined,
  ctx: z.RefinementCtx,
): void {
  const tls = c.tls;
  if (plaintext !== undefined) {
    for (const key of ['ca_file', 'cert_file', 'key_file', 'insecure_skip_verify'] as const) {
      if (tls[key] === undefined || tls[key] === false) continue;
      ctx.addIssue({
        code: 'custom',
        path: ['tls', key],
        input: tls[key],
        message: `${key} needs TLS, but the endpoint is plaintext (${plaintext})`,
        params: { configCode: C.value },
      });
    }
  }
  if ((tls.cert_file === undefined) !== (tls.key_file === undefined)) {
    const missing = tls.cert_file === undefined ? 'cert_file' : 'key_file';
    const given = missing === 'cert_file' ? 'key_file' : 'cert_file';
    ctx.addIssue({
      code: 'custom',
      path: ['tls', given],
      input: tls[given],
      message: `${given} needs ${missing} too (mutual TLS takes both)`,
      params: { configCode: C.value },
    });
  }
  const r = c.retry_on_failure;
  if (r.max_interval < r.initial_interval) {
    ctx.addIssue({
      code: 'custom',
      path: ['retry_on_failure', 'max_interval'],
      input: r.max_interval,
      message: 'max_interval must not be shorter than initial_interval',
      params: { configCode: C.value },
    });
  }
}

export const configSchema = z
  .strictObject({
    /** The OTLP/gRPC receiver (required: a push exporter has no sensible default destination). */
    endpoint: endpoint(),
    tls: tlsSchema.prefault({}),
    /** Sent as gRPC metadata with every export (e.g. an API key): secrets, redacted by print-config. */
    headers: z.record(headerKey, secret(headerValue)).default({}),
    ...commonFields,
  })
  .superRefine((c, ctx) => {
    if (c.endpoint.tls === true && c.tls.insecure) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', 'insecure'],
        input: c.tls.insecure,
        message: 'insecure: true contradicts the https:// endpoint; use http:// or drop insecure',
        params: { configCode: C.value },
      });
    }
    const plaintext =
      c.endpoint.tls === false
        ? 'http://'
        : c.endpoint.tls === undefined && c.tls.insecure
          ? 'insecure: true'
          : undefined;
    checkCommon(c, plaintext, ctx);
  });

export type OtlpExporterConfig = z.infer<typeof configSchema>;

/** What the sending machinery (metrics collections, event queues, retry) needs; every OTLP exporter's config has it. */
export type OtlpSendSettings = Pick<
  OtlpExporterConfig,
  'timeout' | 'interval' | 'histograms' | 'attribute_names' | 'retry_on_failure' | 'sending_queue'
>;
