import { z } from 'zod';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import { describeInput, quote } from '../../config/describe.ts';
import { configIssue, secret } from '../../config/types.ts';
import { checkCommon, commonFields, notSupported, tlsSchema } from '../otlp/config.ts';
import type { OtlpSignal } from '../otlp/transport.ts';

const URL_EXPECTED = 'a URL like "http://otel-collector:4318" or "https://otel.example.com"';

/** Why an OTLP/HTTP URL is unusable, or undefined. */
export function urlProblem(text: string): string | undefined {
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(text))
    return 'the scheme is missing: start with http:// or https://';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'not a valid URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return `the scheme must be http:// or https://, got "${url.protocol}//"`;
  if (url.hostname === '') return 'the host is missing';
  if (url.search !== '' || url.hash !== '') return 'OTLP/HTTP URLs take no query or fragment';
  if (url.username !== '' || url.password !== '') return 'put credentials in headers, not in the URL';
  return undefined;
}

function httpUrl(): z.ZodType<string, unknown> {
  return z.unknown().transform((input, ctx): string => {
    if (typeof input !== 'string')
      return configIssue(
        ctx,
        input,
        C.type,
        `expected ${URL_EXPECTED}, got ${describeInput(input)}`,
        URL_EXPECTED,
      );
    const problem = urlProblem(input.trim());
    if (problem)
      return configIssue(ctx, input, C.value, `expected ${URL_EXPECTED}, got ${quote(input)}: ${problem}`);
    return input.trim();
  });
}

/** HTTP header names are tokens (RFC 9110). */
const HEADER_KEY = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** The exporter sets these itself. */
const RESERVED_HEADERS = new Set(['content-type', 'content-encoding', 'content-length', 'host']);
const headerKey = z.string().superRefine((key, ctx) => {
  const problem = !HEADER_KEY.test(key)
    ? "is not an HTTP header name (letters, digits and !#$%&'*+.^_`|~-)"
    : RESERVED_HEADERS.has(key.toLowerCase())
      ? 'is set by the exporter itself'
      : undefined;
  if (problem) configIssue(ctx, key, C.value, `header name ${quote(key)} ${problem}`);
});
const headerValue = z.string().regex(/^[\x20-\x7e\t]*$/, 'header values may hold only printable ASCII');

const httpTlsSchema = tlsSchema.extend({
  insecure: notSupported('the URL scheme decides: http:// is plaintext, https:// is TLS'),
});

export const configSchema = z
  .strictObject({
    /** Base URL: requests go to <endpoint>/v1/metrics, /v1/traces, /v1/logs. */
    endpoint: httpUrl().optional(),
    /** Full URLs of one signal, instead of <endpoint>/v1/<signal>. */
    metrics_endpoint: httpUrl().optional(),
    traces_endpoint: httpUrl().optional(),
    logs_endpoint: httpUrl().optional(),
    tls: httpTlsSchema.prefault({}),
    /** Sent as HTTP headers with every request (e.g. an API key): secrets, redacted by print-config. */
    headers: z.record(headerKey, secret(headerValue)).default({}),
    /** `proto` (application/x-protobuf) only. */
    encoding: z
      .enum(['proto', 'json'])
      .default('proto')
      .superRefine((e, ctx) => {
        if (e === 'json') configIssue(ctx, e, C.value, 'not supported: only encoding: proto (http/protobuf)');
      }),
    ...commonFields,
  })
  .superRefine((c, ctx) => {
    // Each signal's pipelines need its URL; that is checked at start, when they are known.
    const urls = SIGNALS.map((s) => signalUrl(c, s)).filter((u) => u !== undefined);
    if (urls.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoint'],
        input: undefined,
        message: `missing required key; expected ${URL_EXPECTED} (or metrics_endpoint, traces_endpoint, logs_endpoint)`,
        params: { configCode: C.missing },
      });
      return;
    }
    const plaintext = urls.every((u) => u.startsWith('http:')) ? 'http://' : undefined;
    checkCommon(c, plaintext, ctx);
  });

export type OtlpHttpExporterConfig = z.infer<typeof configSchema>;

const SIGNALS = ['metrics', 'traces', 'logs'] as const;

/** Where one signal goes: its own `<signal>_endpoint`, else `<endpoint>/v1/<signal>` (as the Collector). */
export function signalUrl(
  c: Pick<OtlpHttpExporterConfig, 'endpoint' | 'metrics_endpoint' | 'traces_endpoint' | 'logs_endpoint'>,
  signal: OtlpSignal,
): string | undefined {
  const own = c[`${signal}_endpoint`];
  if (own !== undefined) return own;
  if (c.endpoint === undefined) return undefined;
  return `${c.endpoint.replace(/\/+$/, '')}/v1/${signal}`;
}

/** Whether any signal's URL uses TLS (then the TLS files are read). */
export function usesTls(c: OtlpHttpExporterConfig): boolean {
  return SIGNALS.some((s) => signalUrl(c, s)?.startsWith('https:'));
}
