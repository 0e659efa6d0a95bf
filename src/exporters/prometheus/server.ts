import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import { messageOf } from '../../errors.ts';

export interface MetricsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly metricsPath: string;
  readonly maxRequests: number;
  readonly scrape: () => Promise<string>;
  readonly ready: () => boolean;
  /** Called with the status code of every answer on the metrics path. */
  readonly onScrape?: (code: number) => void;
  readonly logger: Logger;
}

const TEXT_FORMAT = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * The agent's HTTP endpoint: the metrics path (gzip when accepted, 5xx when a
 * scrape fails — never a 200 with an error comment), /healthz, /readyz, and a
 * landing page.
 */
export class MetricsServer {
  private readonly options: MetricsServerOptions;
  private readonly server: Server;
  private active = 0;

  constructor(options: MetricsServerOptions) {
    this.options = options;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        options.logger.error({ err: messageOf(err) }, 'request failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 60_000;
  }

  get address(): { host: string; port: number } {
    const a = this.server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(
          new Error(
            `listen on ${this.options.host}:${this.options.port}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`,
          ),
        );
      };
      this.server.once('error', onError);
      this.server.listen(this.options.port, this.options.host || undefined, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === this.options.metricsPath) return this.metrics(req, res);
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const ready = this.options.ready();
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ready ? 'ready\n' : 'starting\n');
      return;
    }
    if (path === '/') {
      const p = this.options.metricsPath;
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end(
          `<html><head><title>ebpf-collector</title></head><body><h1>ebpf-collector</h1><p><a href="${p}">Metrics</a></p></body></html>\n`,
        );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }

  private async metrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.active >= this.options.maxRequests) {
      this.options.onScrape?.(503);
      res
        .writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' })
        .end('too many concurrent scrapes\n');
      return;
    }
    this.active++;
    let text: string;
    try {
      text = await this.options.scrape();
    } catch (err) {
      this.options.logger.error({ err: messageOf(err) }, 'scrape failed');
      this.options.onScrape?.(500);
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`scrape failed: ${messageOf(err)}\n`);
      return;
    } finally {
      this.active--;
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? gzipSync(text) : Buffer.from(text);
    const headers: Record<string, string> = {
      'content-type': TEXT_FORMAT,
      'content-length': String(body.length),
      vary: 'Accept-Encoding',
    };
    if (gzip) headers['content-encoding'] = 'gzip';
    this.options.onScrape?.(200);
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
