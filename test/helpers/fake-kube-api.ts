import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

/** A pod as the fake serves it (a v1.Pod's relevant fields). */
export interface FakePod {
  metadata: {
    uid: string;
    name: string;
    namespace: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: { nodeName: string };
  status?: { containerStatuses?: { name: string; containerID: string }[] };
}

interface Watcher {
  res: http.ServerResponse;
  node: string | undefined;
  bookmarks: boolean;
}

interface Event {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  pod: FakePod;
}

/**
 * A loopback Kubernetes API server for pods, speaking the real list/watch
 * protocol: `GET /api/v1/pods` lists (with `fieldSelector=spec.nodeName=…`,
 * `limit`/`continue` paging, the list's `resourceVersion`); `watch=1` streams
 * newline-delimited JSON events in a chunked response from `resourceVersion`
 * (ADDED/MODIFIED/DELETED, BOOKMARK when asked and `allowWatchBookmarks`),
 * ends after `timeoutSeconds`, and answers a resourceVersion older than the
 * compaction point with an `ERROR` event carrying a `410` Status (compaction drops the
 * history before it). It can close (dropping every connection, or ending the watches first as
 * a graceful shutdown does) and listen again on the same port, stall its watches (open, no
 * event, no bookmark) or answer nothing at all (accepted, no response). With `tls` it serves
 * HTTPS, as a real API server does.
 */
export class FakeKubeApi {
  private readonly tls: { cert: Buffer; key: Buffer } | undefined;

  constructor(opts: { tls?: { cert: Buffer; key: Buffer } } = {}) {
    this.tls = opts.tls;
  }

  readonly requests: URL[] = [];
  /** The headers of each request, beside `requests`. */
  readonly headers: http.IncomingHttpHeaders[] = [];
  /** When each request came (ms since the epoch), beside `requests`. */
  readonly times: number[] = [];
  private readonly pods = new Map<string, FakePod>();
  private readonly log: Event[] = [];
  private watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private server: http.Server | undefined;
  private rv = 100;
  private compactedRv = 0;
  /** When true, watches get headers but never any event (a silently stalled connection). */
  stallWatches = false;
  /** When true, watches end right after their headers (an API server restarting, "watch spam"). */
  endWatchesAtOnce = false;
  /** When true, requests are accepted and never answered (a hung API server or a black hole). */
  answerNothing = false;
  /** When set, every request is answered with this status and a Status body (e.g. 503 while starting). */
  failWith: number | undefined;
  port = 0;

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  get lists(): URL[] {
    return this.requests.filter((u) => u.searchParams.get('watch') !== '1');
  }

  /** When each list request came. */
  get listTimes(): number[] {
    return this.times.filter((_, i) => this.requests[i]?.searchParams.get('watch') !== '1');
  }

  get watches(): URL[] {
    return this.requests.filter((u) => u.searchParams.get('watch') === '1');
  }

  async listen(port = this.port): Promise<void> {
    const server: http.Server = this.tls
      ? https.createServer(this.tls, (req, res) => this.handle(req, res))
      : http.createServer((req, res) => this.handle(req, res));
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /**
   * Stop listening and drop every connection (the API server going away). `graceful`: first end
   * each watch's stream cleanly, as an API server shutting down does, then drop the rest.
   */
  async close(opts: { graceful?: boolean } = {}): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (opts.graceful) for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    if (opts.graceful) await new Promise((r) => setImmediate(r));
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Watches open now (streaming events, or stalled). */
  get openWatches(): number {
    return this.watchers.size;
  }

  /** The pods stored now (what a fresh list returns), all nodes. */
  get stored(): FakePod[] {
    return [...this.pods.values()];
  }

  add(pod: FakePod): void {
    this.record('ADDED', pod);
  }

  update(pod: FakePod): void {
    this.record('MODIFIED', pod);
  }

  delete(uid: string): void {
    const pod = this.pods.get(uid);
    if (pod) this.record('DELETED', pod);
  }

  /** Send a BOOKMARK with the current resourceVersion to every watch that allows them. */
  bookmark(): void {
    for (const w of this.watchers) {
      if (!w.bookmarks || this.stallWatches) continue;
      this.send(w, {
        type: 'BOOKMARK',
        object: { kind: 'Pod', metadata: { resourceVersion: String(this.rv) } },
      });
    }
  }

  /** Compact history: open watches get a 410 ERROR event and end; older resourceVersions are gone. */
  expireWatches(): void {
    this.compactedRv = this.rv;
    this.log.splice(0, this.log.length);
    for (const w of [...this.watchers]) this.gone(w);
  }

  /** Resolve once `predicate` holds (polling). */
  async until(predicate: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private record(type: Event['type'], pod: FakePod): void {
    this.rv++;
    const stored: FakePod = { ...pod, metadata: { ...pod.metadata, resourceVersion: String(this.rv) } };
    if (type === 'DELETED') this.pods.delete(pod.metadata.uid);
    else this.pods.set(pod.metadata.uid, stored);
    const event: Event = { rv: this.rv, type, pod: stored };
    this.log.push(event);
    for (const w of this.watchers) this.deliver(w, event);
  }

  private deliver(w: Watcher, e: Event): void {
    if (this.stallWatches) return;
    if (w.node !== undefined && e.pod.spec.nodeName !== w.node) return;
    this.send(w, { type: e.type, object: { kind: 'Pod', apiVersion: 'v1', ...e.pod } });
  }

  private send(w: Watcher, event: unknown): void {
    w.res.write(`${JSON.stringify(event)}\n`);
  }

  private gone(w: Watcher): void {
    this.send(w, {
      type: 'ERROR',
      object: {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        message: 'too old resource version',
        reason: 'Expired',
        code: 410,
      },
    });
    this.watchers.delete(w);
    w.res.end();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    this.requests.push(url);
    this.headers.push(req.headers);
    this.times.push(Date.now());
    if (this.answerNothing) return;
    if (this.failWith !== undefined) {
      res.writeHead(this.failWith, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: this.failWith, message: 'the server is not ready' }));
      return;
    }
    if (url.pathname !== '/api/v1/pods') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 404, message: 'not found' }));
      return;
    }
    const selector = url.searchParams.get('fieldSelector') ?? '';
    const m = /^spec\.nodeName=(.*)$/.exec(selector);
    const node = m ? m[1] : undefined;
    if (url.searchParams.get('watch') === '1') this.watch(url, node, req, res);
    else this.list(url, node, res);
  }

  private list(url: URL, node: string | undefined, res: http.ServerResponse): void {
    const all = [...this.pods.values()].filter((p) => node === undefined || p.spec.nodeName === node);
    const limit = Number(url.searchParams.get('limit') ?? '0') || all.length;
    const from = Number(url.searchParams.get('continue') ?? '0');
    const items = all.slice(from, from + limit);
    const next = from + limit < all.length ? String(from + limit) : undefined;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        kind: 'PodList',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(this.rv), ...(next ? { continue: next } : {}) },
        items,
      }),
    );
  }

  private watch(
    url: URL,
    node: string | undefined,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): void {
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (this.endWatchesAtOnce) {
      res.end();
      return;
    }
    const w: Watcher = { res, node, bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true' };
    if (from < this.compactedRv) {
      this.gone(w);
      return;
    }
    this.watchers.add(w);
    for (const e of this.log) if (e.rv > from) this.deliver(w, e);
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    // A stalled watch does not even end at its timeout.
    const timer = timeout > 0 && !this.stallWatches ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    const done = () => {
      clearTimeout(timer);
      this.watchers.delete(w);
    };
    req.on('close', done);
    res.on('close', done);
  }
}

/** A pod on `node` with one container. */
export function fakePod(
  uid: string,
  name: string,
  opts: {
    node?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    container?: { name: string; id: string };
  } = {},
): FakePod {
  return {
    metadata: {
      uid,
      name,
      namespace: opts.namespace ?? 'default',
      ...(opts.labels ? { labels: opts.labels } : {}),
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
    },
    spec: { nodeName: opts.node ?? 'node-a' },
    ...(opts.container
      ? {
          status: {
            containerStatuses: [
              { name: opts.container.name, containerID: `containerd://${opts.container.id}` },
            ],
          },
        }
      : {}),
  };
}
