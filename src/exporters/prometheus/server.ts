import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import {
  createServer as createNetServer,
  type AddressInfo,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import type { TLSSocket } from 'node:tls';
import { gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import { messageOf } from '../../errors.ts';
import type { AgentHealth } from '../../pipeline/component.ts';
import { healthJson, healthText, wantsJson } from '../../pipeline/health-body.ts';
import { clientAuthOptions, type WebGuard } from './websecurity.ts';

export interface MetricsServerOptions {
  readonly host: string;
  readonly port: number;
  /** An inherited listening socket to serve on instead of host:port. */
  readonly fd?: number | undefined;
  /** The `/maps` text (absent: /maps is not served). */
  readonly maps?: (() => string) | undefined;
  readonly metricsPath: string;
  readonly maxRequests: number;
  readonly scrape: () => Promise<string>;
  readonly ready: () => boolean;
  /** The agent's health for /readyz's body (absent: `ready` alone decides, body ready/starting). */
  readonly health?: (() => AgentHealth | undefined) | undefined;
  /** Called with the status code of every answer on the metrics path. */
  readonly onScrape?: (code: number) => void;
  readonly logger: Logger;
  /** TLS, client certificates, basic auth and headers from the web config. */
  readonly web?: WebGuard | undefined;
}

/** Paths served without basic auth (kubelet probes cannot send credentials); over TLS when TLS is on. */
const PROBES = new Set(['/healthz', '/readyz']);
/** A TLS client that has not finished its handshake by then is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

const TEXT_FORMAT = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * The agent's HTTP endpoint: the metrics path (gzip when accepted, 5xx when a
 * scrape fails — never a 200 with an error comment), /healthz, /readyz, and a
 * landing page. With a web config: HTTPS, client certificate policies, bcrypt basic
 * auth (not on the probes) and response headers. For TLS a plain TCP listener takes
 * each connection, lets the web config check its files (a rotated certificate applies
 * from this handshake on), then hands the socket to the HTTPS server.
 */
export class MetricsServer {
  private readonly options: MetricsServerOptions;
  private readonly server: Server | HttpsServer;
  /** The listener when TLS is on. */
  private readonly front: NetServer | undefined;
  private readonly sockets = new Set<Socket>();
  private active = 0;

  constructor(options: MetricsServerOptions) {
    this.options = options;
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        options.logger.error({ err: messageOf(err) }, 'request failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    };
    const web = options.web;
    const tls = web?.settings.tls;
    if (web && tls) {
      const https = createHttpsServer(
        { ...tls.context, ...clientAuthOptions(tls.clientAuth), handshakeTimeout: HANDSHAKE_TIMEOUT_MS },
        handler,
      );
      web.onTlsChange = (next) => https.setSecureContext(next.context);
      // Policies OpenSSL does not enforce (RequireAnyClientCert, VerifyClientCertIfGiven, SANs).
      https.prependListener('secureConnection', (socket: TLSSocket) => {
        const why = web.refusal(socket);
        if (why === undefined) return;
        options.logger.debug({ remote: socket.remoteAddress, why }, 'TLS client refused');
        socket.destroy();
      });
      https.on('tlsClientError', (err, socket) => {
        options.logger.debug({ remote: socket.remoteAddress, err: err.message }, 'TLS handshake failed');
      });
      this.front = createNetServer((raw) => {
        this.sockets.add(raw);
        raw.once('close', () => this.sockets.delete(raw));
        try {
          web.refresh();
        } catch (err) {
          options.logger.error({ err: messageOf(err) }, 'web config check failed');
        }
        https.emit('connection', raw);
      });
      this.server = https;
    } else {
      this.server = createServer(handler);
    }
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 60_000;
  }

  /** Whether the endpoint speaks TLS. */
  get tls(): boolean {
    return this.front !== undefined;
  }

  get address(): { host: string; port: number } {
    const a = (this.front ?? this.server).address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const { fd } = this.options;
      const where = fd === undefined ? `${this.options.host}:${this.options.port}` : `fd ${fd}`;
      const onError = (err: NodeJS.ErrnoException): void => {
        const why =
          err.code === 'EADDRINUSE'
            ? 'address already in use'
            : fd !== undefined && (err.code === 'EBADF' || err.code === 'ENOTSOCK' || err.code === 'EINVAL')
              ? `not a listening socket (${err.code})`
              : err.message;
        reject(new Error(`listen on ${where}: ${why}`));
      };
      const listener = this.front ?? this.server;
      listener.once('error', onError);
      const done = (): void => {
        listener.off('error', onError);
        resolve();
      };
      if (fd !== undefined) listener.listen({ fd }, done);
      else listener.listen(this.options.port, this.options.host || undefined, done);
    });
  }

  close(): Promise<void> {
    const front = this.front;
    if (!front) {
      return new Promise((resolve) => {
        this.server.close(() => resolve());
        this.server.closeAllConnections();
      });
    }
    return new Promise((resolve) => {
      front.close(() => resolve());
      this.server.close();
      this.server.closeAllConnections();
      for (const s of this.sockets) s.destroy();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const web = this.options.web;
    if (web) {
      web.refresh();
      for (const [name, value] of Object.entries(web.settings.headers)) res.setHeader(name, value);
      if (!PROBES.has(path)) {
        const ok = await web.authorized(req.headers.authorization);
        if (ok === 'busy') {
          res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('busy\n');
          return;
        }
        if (!ok) {
          res
            .writeHead(401, {
              'content-type': 'text/plain',
              'www-authenticate': 'Basic realm="ebpf-collector"',
            })
            .end('Unauthorized\n');
          return;
        }
      }
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === this.options.metricsPath) return this.metrics(req, res);
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') return this.readyz(req, res);
    if (path === '/maps' && this.options.maps) {
      const text = this.options.maps();
      res
        .writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
        .end(req.method === 'HEAD' ? undefined : text);
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

  /**
   * Readiness: 200 only when the agent runs and every component is ready (every pipeline
   * started, every required program attached); the body lists what is not ready and what is
   * degraded (pipeline/health-body.ts). `/healthz` is liveness: it answers while the event
   * loop does.
   */
  private readyz(req: IncomingMessage, res: ServerResponse): void {
    const health = this.options.health?.();
    const ready = health ? health.ready : this.options.ready();
    const json = wantsJson(req.headers.accept);
    const body = health
      ? json
        ? `${JSON.stringify(healthJson(health))}\n`
        : healthText(health)
      : json
        ? `${JSON.stringify({ status: ready ? 'ready' : 'not ready' })}\n`
        : ready
          ? 'ready\n'
          : 'starting\n';
    res
      .writeHead(ready ? 200 : 503, {
        'content-type': json ? 'application/json' : 'text/plain; charset=utf-8',
        'cache-control': 'no-store',
      })
      .end(req.method === 'HEAD' ? undefined : body);
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
