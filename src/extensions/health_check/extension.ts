import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { AgentHealth, ComponentHealth, Extension, Host } from '../../pipeline/component.ts';
import type { HealthCheckConfig } from './config.ts';

/**
 * The collector's health check: GET (or HEAD) `path` answers 200 with
 * `{"status":"Server available","upSince":…,"uptime":…}` when the agent is ready (every
 * pipeline started, every required program attached) and 503 with
 * `"status":"Server not available"` otherwise — while starting, while stopping, or when a
 * component is not ready. Beside the collector's fields, `components` lists what is not ready
 * or degraded (id, kind, ready, problems). `response_body` replaces the JSON with static text.
 */
export class HealthCheckExtension implements Extension {
  private readonly config: HealthCheckConfig;
  private readonly logger: Logger;
  private server: Server | undefined;
  private agentHealth: (() => AgentHealth) | undefined;
  private readonly upSince = new Date();
  private stopped = false;

  constructor(config: HealthCheckConfig, logger: Logger) {
    this.config = config;
    this.logger = logger;
  }

  get address(): { host: string; port: number } | undefined {
    const a = this.server?.address() as AddressInfo | null | undefined;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  describe(): Record<string, unknown> {
    const a = this.address;
    return a
      ? {
          health_check: `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}${this.config.path}`,
        }
      : {};
  }

  async start(host: Host): Promise<void> {
    if (this.server || this.stopped) return;
    this.agentHealth = host.health;
    const server = createServer((req, res) => this.handle(req, res));
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    const { host: bind, port } = this.config.endpoint;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(
          new Error(
            `health_check: listen on ${bind}:${port}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`,
          ),
        );
      };
      server.once('error', onError);
      server.listen(port, bind || undefined, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => this.logger.error({ err: err.message }, 'health_check server error'));
    this.server = server;
    const a = this.address;
    this.logger.info({ endpoint: `${a?.host}:${a?.port}`, path: this.config.path }, 'serving health check');
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  health(): ComponentHealth {
    return this.server
      ? { ready: true, problems: [], details: this.describe() }
      : { ready: false, problems: [this.stopped ? 'stopped' : 'not listening'] };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path !== this.config.path) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const h = this.agentHealth?.();
    const ready = h?.ready ?? false;
    const custom = ready ? this.config.response_body?.healthy : this.config.response_body?.unhealthy;
    const now = Date.now();
    const body =
      custom ??
      JSON.stringify({
        status: ready ? 'Server available' : 'Server not available',
        upSince: this.upSince.toISOString(),
        uptime: `${((now - this.upSince.getTime()) / 1000).toFixed(3)}s`,
        phase: h?.phase ?? 'starting',
        components: (h?.components ?? [])
          .filter((c) => !c.ready || c.problems.length > 0)
          .map((c) => ({ id: c.id, kind: c.kind, ready: c.ready, problems: c.problems })),
      });
    res
      .writeHead(ready ? 200 : 503, {
        'content-type': custom !== undefined ? 'text/plain; charset=utf-8' : 'application/json',
        'cache-control': 'no-store',
      })
      .end(req.method === 'HEAD' ? undefined : body);
  }
}
