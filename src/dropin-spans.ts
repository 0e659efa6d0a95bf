import { readNamedFileSync } from './config/files.ts';
import { loadConfigSources } from './config/load.ts';
import { CollectorError } from './errors.ts';
import { parseEndpoint } from './exporters/otlp/config.ts';
import { urlProblem } from './exporters/otlphttp/config.ts';

/**
 * ebpf_exporter's `tracing.spans` in drop-in mode. Upstream exports spans through
 * OpenTelemetry's Go `autoexport`, configured only by the standard environment; so does
 * this: the variables below become one `otlp` (grpc) or `otlphttp` (http/protobuf)
 * exporter and a `traces` pipeline from every config that has spans.
 *
 *   OTEL_TRACES_EXPORTER                        otlp (default) | none
 *   OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL        http/protobuf (default) | grpc
 *   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT          the full URL (http: used as is)
 *   OTEL_EXPORTER_OTLP_ENDPOINT                 base URL (http: + /v1/traces); default
 *                                               http://localhost:4318 (grpc: :4317)
 *   OTEL_EXPORTER_OTLP[_TRACES]_HEADERS         k=v,k2=v2 (values URL-encoded)
 *   OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT         milliseconds (default 10000)
 *   OTEL_EXPORTER_OTLP[_TRACES]_COMPRESSION     gzip | none (default none, as the Go SDK)
 *   OTEL_EXPORTER_OTLP[_TRACES]_INSECURE        grpc without a scheme: true = plaintext
 *   OTEL_EXPORTER_OTLP[_TRACES]_CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY   TLS files
 *
 * The signal-specific variable wins over the general one, as the specification says.
 */

export interface SpansExport {
  /** The exporter to add (its id is its type), or undefined when spans are not sent. */
  readonly exporter?: { readonly type: 'otlp' | 'otlphttp'; readonly config: Record<string, unknown> };
  /** Why spans are not sent (one warning at start), when they are not. */
  readonly unsent?: string;
}

const ENV_CODE = 'ERR_DROPIN_OTEL_ENV';

/** Whether an ebpf_exporter config file has `tracing.spans` (an unreadable file: no; the receiver reports it). */
export function hasSpans(file: string): boolean {
  try {
    const data = readNamedFileSync(file); // bounded; the receiver reports an unusable file
    if (typeof data === 'string') return false;
    // Our loader: depth pre-scan and alias budget (yaml's parse() alone overflows the stack on deep input).
    const doc = loadConfigSources([{ file, text: data.toString('utf8') }]).value as {
      tracing?: { spans?: unknown };
    };
    const spans = doc?.tracing?.spans;
    return Array.isArray(spans) && spans.length > 0;
  } catch {
    return false;
  }
}

/** The spans exporter the environment asks for; bad values are errors naming the variable. */
export function spansExportFromEnv(env: NodeJS.ProcessEnv): SpansExport {
  const get = (name: string): { name: string; value: string } | undefined => {
    for (const n of [`OTEL_EXPORTER_OTLP_TRACES_${name}`, `OTEL_EXPORTER_OTLP_${name}`]) {
      const v = env[n]?.trim();
      if (v) return { name: n, value: v };
    }
    return undefined;
  };
  const fail = (name: string, message: string): never => {
    throw new CollectorError(ENV_CODE, `${name}: ${message}`, { path: name });
  };

  const exporters = (env['OTEL_TRACES_EXPORTER']?.trim() || 'otlp').split(',').map((s) => s.trim());
  if (exporters.includes('none') || !exporters.includes('otlp')) {
    return {
      unsent: `OTEL_TRACES_EXPORTER=${env['OTEL_TRACES_EXPORTER'] ?? ''}${
        exporters.includes('none') ? '' : ' (only otlp and none are supported)'
      }`,
    };
  }
  const protocol = get('PROTOCOL') ?? { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'http/protobuf' };
  if (protocol.value !== 'grpc' && protocol.value !== 'http/protobuf')
    fail(protocol.name, `expected grpc or http/protobuf, got "${protocol.value}"`);
  const grpc = protocol.value === 'grpc';

  const config: Record<string, unknown> = {};
  const own = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim();
  const base = env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim();
  const endpoint = own
    ? { name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', value: own }
    : base
      ? { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: base }
      : {
          name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
          value: grpc ? 'http://localhost:4317' : 'http://localhost:4318',
        };
  if (grpc) {
    // gRPC takes host:port; a URL's path (OTel allows one) is not used.
    const url = /^https?:\/\//i.test(endpoint.value) ? new URL(endpoint.value) : undefined;
    const target = url ? `${url.protocol}//${url.host}` : endpoint.value;
    const parsed = parseEndpoint(target);
    if (typeof parsed === 'string') fail(endpoint.name, `${parsed} (got "${endpoint.value}")`);
    config['endpoint'] = target;
    const insecure = get('INSECURE');
    if (!url && insecure) config['tls'] = { insecure: bool(insecure, fail) };
  } else {
    const problem = urlProblem(endpoint.value);
    if (problem) fail(endpoint.name, `${problem} (got "${endpoint.value}")`);
    config[own ? 'traces_endpoint' : 'endpoint'] = endpoint.value;
  }

  const tls: Record<string, unknown> = { ...(config['tls'] as object | undefined) };
  for (const [name, key] of [
    ['CERTIFICATE', 'ca_file'],
    ['CLIENT_CERTIFICATE', 'cert_file'],
    ['CLIENT_KEY', 'key_file'],
  ] as const) {
    const v = get(name);
    if (v) tls[key] = v.value;
  }
  if (Object.keys(tls).length > 0) config['tls'] = tls;

  const headers = get('HEADERS');
  if (headers) config['headers'] = parseHeaders(headers, fail);
  const timeout = get('TIMEOUT');
  if (timeout) {
    if (!/^\d+$/.test(timeout.value) || Number(timeout.value) === 0)
      fail(timeout.name, `expected milliseconds (a whole number above 0), got "${timeout.value}"`);
    config['timeout'] = `${timeout.value}ms`;
  }
  const compression = get('COMPRESSION');
  if (compression && compression.value !== 'gzip' && compression.value !== 'none')
    fail(compression.name, `expected gzip or none, got "${compression.value}"`);
  config['compression'] = compression?.value ?? 'none';
  return { exporter: { type: grpc ? 'otlp' : 'otlphttp', config } };
}

function bool(v: { name: string; value: string }, fail: (name: string, message: string) => never): boolean {
  const t = v.value.toLowerCase();
  if (t === 'true') return true;
  if (t === 'false') return false;
  return fail(v.name, `expected true or false, got "${v.value}"`);
}

/** `k=v,k2=v2` with URL-encoded values (W3C baggage form, as the specification says). */
function parseHeaders(
  v: { name: string; value: string },
  fail: (name: string, message: string) => never,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of v.value.split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) fail(v.name, `expected key=value pairs separated by commas, got "${pair.trim()}"`);
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      return fail(v.name, `the value of "${pair.slice(0, eq).trim()}" is not URL-encoded correctly`);
    }
    out[pair.slice(0, eq).trim()] = value;
  }
  return out;
}
