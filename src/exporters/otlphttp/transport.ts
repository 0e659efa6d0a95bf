import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { HttpExportError, parseRetryAfter } from '../otlp/retry.ts';
import type { TlsFiles } from '../otlp/tls.ts';
import {
  sharedWire,
  USER_AGENT,
  type CallResult,
  type OtlpSignal,
  type OtlpTransport,
  type OtlpWire,
} from '../otlp/transport.ts';
import { CollectorError, CollectorErrors } from '../../errors.ts';
import { signalUrl, type OtlpHttpExporterConfig } from './config.ts';

/**
 * OTLP/HTTP with protobuf bodies (the specification's `http/protobuf`): one POST per
 * request to the signal's URL, `Content-Type: application/x-protobuf`, gzip when asked.
 * The bodies are @opentelemetry/otlp-transformer's protobuf serializers' (the otlp
 * exporter's codecs, the same for both protocols), the responses are read with them too
 * (partial success). A non-2xx answer is an HttpExportError with its status and
 * `Retry-After`; the shared retry rule (../otlp/retry.ts) decides what is retried:
 * 429, 502, 503, 504 and no answer at all.
 */

const gzipAsync = promisify(gzip);

/** Responses are small (a partial success at most); more than this is cut and the rest ignored. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export function httpWire(
  config: OtlpHttpExporterConfig,
  tls: TlsFiles,
  /** Key path for messages, e.g. `exporters.otlphttp`. */
  path: string,
): OtlpWire {
  /** A signal's URL; without one the exporter cannot be in that signal's pipelines. */
  const url = (signal: OtlpSignal): string => {
    const u = signalUrl(config, signal);
    if (u !== undefined) return u;
    throw new CollectorErrors([
      new CollectorError(
        'ERR_CONFIG_MISSING',
        `the exporter is in a ${signal} pipeline but has no URL for it; give endpoint or ${signal}_endpoint`,
        { path: `${path}.endpoint` },
      ),
    ]);
  };
  return sharedWire(
    'OTLP/HTTP',
    config.endpoint ?? config.traces_endpoint ?? config.metrics_endpoint ?? config.logs_endpoint ?? '',
    (signal) => void url(signal),
    () => {
      const http = new HttpClient(config, tls);
      return {
        call: (signal, body) => http.post(url(signal), body),
        close: () => http.close(),
      } satisfies OtlpTransport;
    },
  );
}

class HttpClient {
  private readonly headers: Readonly<Record<string, string>>;
  private readonly gzip: boolean;
  private readonly timeoutMs: number;
  private readonly httpAgent = new HttpAgent({ keepAlive: true });
  private readonly httpsAgent: HttpsAgent;

  constructor(config: OtlpHttpExporterConfig, tls: TlsFiles) {
    this.headers = config.headers;
    this.gzip = config.compression === 'gzip';
    this.timeoutMs = config.timeout;
    const skip = config.tls.insecure_skip_verify;
    this.httpsAgent = new HttpsAgent({
      keepAlive: true,
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
      ...(skip ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {}),
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  async post(url: string, raw: Uint8Array): Promise<CallResult> {
    let body: Uint8Array;
    try {
      body = this.gzip ? await gzipAsync(raw) : raw;
    } catch (error) {
      return { ok: false, error };
    }
    const secure = url.startsWith('https:');
    return new Promise((resolve) => {
      const done = (r: CallResult): void => {
        clearTimeout(timer);
        resolve(r);
      };
      const timer = setTimeout(() => {
        req.destroy(new Error(`no answer within ${this.timeoutMs}ms`));
      }, this.timeoutMs);
      const req = (secure ? httpsRequest : httpRequest)(
        url,
        {
          method: 'POST',
          agent: secure ? this.httpsAgent : this.httpAgent,
          headers: {
            'user-agent': USER_AGENT,
            ...this.headers,
            'content-type': 'application/x-protobuf',
            ...(this.gzip ? { 'content-encoding': 'gzip' } : {}),
            'content-length': String(body.byteLength),
          },
        },
        (res) => {
          readBody(res).then(
            (response) => {
              const status = res.statusCode ?? 0;
              if (status >= 200 && status < 300) {
                done({ ok: true, response });
                return;
              }
              const text = Buffer.from(response).toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200);
              const retryAfter = header(res, 'retry-after');
              done({
                ok: false,
                error: new HttpExportError(
                  `HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}${text ? `: ${text}` : ''}`,
                  status,
                  status === 429 || status === 503 ? parseRetryAfter(retryAfter) : undefined,
                ),
              });
            },
            (err: unknown) => done({ ok: false, error: new HttpExportError(describe(err)) }),
          );
        },
      );
      req.on('error', (err) => done({ ok: false, error: new HttpExportError(describe(err)) }));
      req.end(body);
    });
  }
}

function header(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function describe(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

function readBody(res: IncomingMessage): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      if (size >= MAX_RESPONSE_BYTES) return;
      chunks.push(chunk);
      size += chunk.length;
    });
    res.on('end', () => resolve(Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BYTES)));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('the response was cut off')));
  });
}
