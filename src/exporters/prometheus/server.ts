import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import {
  createServer as createNetServer,
  type AddressInfo,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { CollectorError, messageOf } from '../../errors.ts';
import type { AgentHealth } from '../../pipeline/component.ts';
import { healthJson, healthText, wantsJson } from '../../pipeline/health-body.ts';
import { serveStatus } from '../../status/http.ts';
import type { AgentStatus } from '../../status/model.ts';
import { acceptsGzip, SharedBodies, type ScrapeBody } from './body.ts';
import { DEFAULT_MAX_CONNECTIONS } from './config.ts';
import { ConnectionGate, connectionCap, type DropReason } from './connections.ts';
import { clientAuthOptions, type WebGuard } from './websecurity.ts';

export interface MetricsServerOptions {
  readonly host: string;
  readonly port: number;
  /** An inherited listening socket to serve on instead of host:port. */
  readonly fd?: number | undefined;
  /** The `/maps` text (absent: /maps is not served). */
  readonly maps?: (() => string) | undefined;
  readonly metricsPath: string;
  /** Responses to the metrics path in progress at once; more get 503 at once. */
  readonly maxRequests: number;
  /** Connections held at once (lowered to RLIMIT_NOFILE minus a reserve, connections.ts). */
  readonly maxConnections?: number | undefined;
  /** Called for every connection the server closes on its own. */
  readonly onConnectionDrop?: ((reason: DropReason) => void) | undefined;
  /** Shorter timeouts (tests); the defaults are TIMEOUTS. */
  readonly timeouts?: Partial<Timeouts> | undefined;
  /**
   * The exposition, as text or as its bytes in order (ExpositionWriter.writeBytes); concurrent
   * calls return the same promise while one collection runs.
   */
  readonly scrape: () => Promise<string | readonly Buffer[]>;
  readonly ready: () => boolean;
  /** The agent's health for /readyz's body (absent: `ready` alone decides, body ready/starting). */
  readonly health?: (() => AgentHealth | undefined) | undefined;
  /** Called with the status code of every answer on the metrics path. */
  readonly onScrape?: (code: number) => void;
  readonly logger: Logger;
  /** TLS, client certificates, basic auth and headers from the web config. */
  readonly web?: WebGuard | undefined;
  /** The agent's status for `/status` (absent: not served). */
  readonly status?: (() => AgentStatus) | undefined;
}

/** Paths served without basic auth (kubelet probes cannot send credentials); over TLS when TLS is on. */
const PROBES = new Set(['/healthz', '/readyz']);
/** A TLS client that has not finished its handshake by then is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

const TEXT_FORMAT = 'text/plain; version=0.0.4; charset=utf-8';

export interface Timeouts {
  /** A request's headers must be in by then (408), counted from its first byte. */
  readonly headersMs: number;
  /** A whole request must be in by then (408). */
  readonly requestMs: number;
  /**
   * A connection with no request at all is closed after this long (Node's headersTimeout
   * starts only with a request's first byte); a second after headersMs, so a client slow to
   * send its headers gets its 408 first.
   */
  readonly silentMs: number;
  /** An idle keep-alive connection is closed after this long. */
  readonly keepAliveMs: number;
  /** A connection with no traffic either way (e.g. a client that stopped reading) is closed. */
  readonly inactiveMs: number;
}

/**
 * The accept queue: the kernel's somaxconn, as Go's net package (node_exporter) asks for,
 * instead of Node's 511 — a burst of connects beyond it loses SYNs, and their clients retry
 * 1, 3, 7… s later, each then finding the last collection over and starting a new one.
 */
export function listenBacklog(file = '/proc/sys/net/core/somaxconn'): number {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? Math.min(n, 65_535) : 511;
  } catch {
    return 511;
  }
}

export const TIMEOUTS: Timeouts = {
  headersMs: 10_000,
  requestMs: 60_000,
  silentMs: 11_000,
  keepAliveMs: 5_000,
  inactiveMs: 30_000,
};

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
  private readonly gate: ConnectionGate;
  private readonly bodies = new SharedBodies();
  /** Responses to the metrics path in progress (admitted, not yet closed). */
  private responding = 0;

  constructor(options: MetricsServerOptions) {
    this.options = options;
    const timeouts = { ...TIMEOUTS, ...options.timeouts };
    this.gate = new ConnectionGate(
      connectionCap(options.maxConnections ?? DEFAULT_MAX_CONNECTIONS),
      timeouts.silentMs,
      options.onConnectionDrop,
    );
    const http = {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      keepAliveTimeout: timeouts.keepAliveMs,
      // Node checks headersTimeout/requestTimeout on this interval (30 s by default).
      connectionsCheckingInterval: Math.min(1000, timeouts.headersMs / 4),
    };
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      // Under TLS the gate knows the TCP socket the TLS socket wraps.
      const socket = (req.socket as TLSSocket & { _parent?: Socket })._parent ?? req.socket;
      res.once('close', this.gate.request(socket));
      this.handle(req, res).catch((err: unknown) => {
        options.logger.error({ err: messageOf(err) }, 'request failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    };
    const web = options.web;
    const tls = web?.settings.tls;
    if (web && tls) {
      // node:https (and tls) load only when TLS is configured: ~2 MB of RSS otherwise.
      const https = process.getBuiltinModule('node:https').createServer(
        {
          ...http,
          ...tls.context,
          ...clientAuthOptions(tls.clientAuth),
          handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        },
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
        if (!this.gate.admit(raw)) return;
        try {
          web.refresh();
        } catch (err) {
          options.logger.error({ err: messageOf(err) }, 'web config check failed');
        }
        https.emit('connection', raw);
      });
      this.server = https;
    } else {
      this.server = createServer(http, handler);
      this.server.on('connection', (socket: Socket) => this.gate.admit(socket));
    }
    this.server.timeout = timeouts.inactiveMs;
  }

  /** Connections held at most (max_connections, bounded by the fd reserve). */
  get connectionCap(): number {
    return this.gate.cap;
  }

  /** Connections open now. */
  get connections(): number {
    return this.gate.size;
  }

  /** Responses to the metrics path in progress now. */
  get responses(): number {
    return this.responding;
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
        const code = err.code === 'EADDRINUSE' ? 'ERR_LISTEN_IN_USE' : 'ERR_LISTEN';
        reject(new CollectorError(code, `listen on ${where}: ${why}`, { cause: err }));
      };
      const listener = this.front ?? this.server;
      listener.once('error', onError);
      const done = (): void => {
        listener.off('error', onError);
        resolve();
      };
      if (fd !== undefined) listener.listen({ fd }, done);
      else
        listener.listen(
          { port: this.options.port, host: this.options.host || undefined, backlog: listenBacklog() },
          done,
        );
    });
  }

  close(): Promise<void> {
    const front = this.front;
    if (!front) {
      return new Promise((resolve) => {
        this.server.close(() => resolve());
        this.server.closeAllConnections();
        this.gate.close();
      });
    }
    return new Promise((resolve) => {
      front.close(() => resolve());
      this.server.close();
      this.server.closeAllConnections();
      this.gate.close();
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
    if (path === '/status' && this.options.status) return serveStatus(req, res, this.options.status);
    if (path === '/') {
      const p = this.options.metricsPath;
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end(
          `<html><head><title>ebpf-collector</title></head><body><h1>ebpf-collector</h1><p><a href="${p}">Metrics</a></p>${this.options.status ? '<p><a href="/status">Status</a></p>' : ''}</body></html>\n`,
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

  /**
   * The metrics path. A response counts against max_requests from here until it is closed
   * (sent, or the client gone), so the cap bounds the bodies held for slow readers, not
   * only the collection; beyond it the answer is 503 before any work. The body (and its
   * gzip) is made once per collection and shared by the requests that waited for it.
   */
  private async metrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.responding >= this.options.maxRequests) {
      this.options.onScrape?.(503);
      res
        .writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' })
        .end('too many concurrent scrapes\n');
      return;
    }
    this.responding++;
    res.once('close', () => this.responding--);
    let body: ScrapeBody;
    let gzipped: Buffer | undefined;
    const gzip = acceptsGzip(req.headers['accept-encoding']);
    try {
      body = await this.bodies.of(this.options.scrape());
      if (gzip) gzipped = await body.gzipped();
    } catch (err) {
      this.options.logger.error({ err: messageOf(err) }, 'scrape failed');
      this.options.onScrape?.(500);
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`scrape failed: ${messageOf(err)}\n`);
      return;
    }
    const headers: Record<string, string> = {
      'content-type': TEXT_FORMAT,
      'content-length': String(gzipped ? gzipped.length : body.length),
      vary: 'Accept-Encoding',
    };
    if (gzip) headers['content-encoding'] = 'gzip';
    this.options.onScrape?.(200);
    res.writeHead(200, headers);
    if (req.method === 'HEAD') res.end();
    else if (gzipped) res.end(gzipped);
    else {
      // The chunks in one write to the socket (writev), never copied into one buffer.
      res.cork();
      for (const c of body.chunks) res.write(c);
      res.end();
    }
  }
}
