import type { IncomingMessage } from 'node:http';
import { get, readBody, type KubeConnection } from './connection.ts';
import type { Pod } from './pod-index.ts';

/** Where the watched pods go. */
export interface PodStore {
  replace(pods: readonly Pod[]): void;
  upsert(pod: Pod): void;
  remove(pod: Pod): void;
}

/** `connecting`: no list yet; `live`: listed and watching; `unavailable`: the last attempt failed. */
export type WatchState = 'connecting' | 'live' | 'unavailable';

export type RelistReason = 'initial' | 'gone' | 'liveness' | 'error';

export interface PodWatcherOptions {
  /** Resolved on every (re)list, so a fixed kubeconfig or a mounted token is picked up. */
  readonly connection: () => KubeConnection | Promise<KubeConnection>;
  readonly nodeName: string;
  readonly store: PodStore;
  readonly livenessMs: number;
  readonly requestTimeoutMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** Items per list page. */
  readonly pageSize?: number;
  readonly onWatchEvent?: (type: string) => void;
  readonly onRelist?: (reason: RelistReason) => void;
  readonly onState?: (state: WatchState, error?: string) => void;
  /**
   * The cache was current just now: a list completed, an event or bookmark arrived, or a watch
   * ended at its timeout (the connection worked to its end).
   */
  readonly onSynced?: () => void;
  readonly random?: () => number;
}

/** The watch ended on its own: watch again from `resourceVersion`. */
interface Ended {
  readonly kind: 'ended';
  readonly resourceVersion: string;
  readonly events: number;
}

class Gone extends Error {}
class Stalled extends Error {}

/** A watch that ends this soon with no events is treated as a failure (API restarting). */
const MIN_WATCH_MS = 1_000;

/**
 * Longest watch event line kept while waiting for its newline. The API server stores at most
 * 1.5 MiB per object (etcd's request limit); a stream with no newline in 16 MiB is broken, and
 * buffering it on would grow without bound.
 */
export const MAX_EVENT_BYTES = 16 * 1024 * 1024;

/**
 * A reflector for the pods of one node: list (paged) with the list's
 * resourceVersion, then watch from it (`allowWatchBookmarks`). A watch that
 * ends normally is resumed from the last resourceVersion seen; `410 Gone`
 * (as an HTTP status or an ERROR event) re-lists at once; any other failure
 * re-lists after a backoff that doubles with jitter up to `backoffMaxMs`;
 * no event or bookmark for `livenessMs` (a silently stalled connection)
 * aborts the watch and re-lists.
 */
export class PodWatcher {
  private readonly opts: PodWatcherOptions;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private state: WatchState = 'connecting';
  private wake: (() => void) | undefined;
  /**
   * Failures in a row, for the backoff. Reset by a watch event, or by a watch that has been up
   * for `backoffMaxMs` (a quiet node may see no event for long), not by a successful list: an
   * API server that lists but ends every watch at once (restarting) must still back off.
   */
  private failures = 0;
  /** Since when watches have been answered without a failure (undefined: none since the last one). */
  private okSinceMs: number | undefined;

  constructor(opts: PodWatcherOptions) {
    this.opts = opts;
  }

  get currentState(): WatchState {
    return this.state;
  }

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wake?.();
    await this.running;
  }

  private get selector(): string {
    return `fieldSelector=${encodeURIComponent(`spec.nodeName=${this.opts.nodeName}`)}`;
  }

  private setState(state: WatchState, error?: string): void {
    if (state === this.state && error === undefined) return;
    this.state = state;
    this.opts.onState?.(state, error);
  }

  private async run(): Promise<void> {
    let reason: RelistReason = 'initial';
    let lastListMs = -Infinity;
    while (!this.abort.signal.aborted) {
      // At most one re-list per backoffInitialMs, even for 410 Gone and stalls (no tight loop).
      const wait = lastListMs + this.opts.backoffInitialMs - Date.now();
      if (wait > 0) await this.sleep(wait);
      if (this.abort.signal.aborted) return;
      lastListMs = Date.now();
      try {
        this.opts.onRelist?.(reason);
        const conn = await this.opts.connection();
        let rv = await this.list(conn);
        this.setState('live');
        for (;;) {
          const started = Date.now();
          const ended = await this.watch(conn, rv);
          rv = ended.resourceVersion;
          if (ended.events === 0 && Date.now() - started < MIN_WATCH_MS) {
            throw new Error('watch closed at once without events');
          }
          this.opts.onSynced?.();
        }
      } catch (err) {
        if (this.abort.signal.aborted) return;
        if (err instanceof Gone) {
          reason = 'gone';
          continue;
        }
        const okSince = this.okSinceMs;
        this.okSinceMs = undefined;
        if (err instanceof Stalled) {
          reason = 'liveness';
          this.opts.onState?.(this.state, err.message);
          continue;
        }
        reason = 'error';
        // Healthy for a backoff_max or longer since the last failure: this is a new outage.
        if (okSince !== undefined && Date.now() - okSince >= this.opts.backoffMaxMs) this.failures = 0;
        this.setState('unavailable', err instanceof Error ? err.message : String(err));
        await this.sleep(this.backoff(this.failures++));
      }
    }
  }

  private backoff(failures: number): number {
    const base = Math.min(this.opts.backoffMaxMs, this.opts.backoffInitialMs * 2 ** Math.min(failures, 30));
    const jitter = 0.5 + (this.opts.random ?? Math.random)() / 2;
    return Math.max(1, Math.round(base * jitter));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  /** All pages of the node's pods into the store; the list's resourceVersion. */
  private async list(conn: KubeConnection): Promise<string> {
    const pods: Pod[] = [];
    let cont: string | undefined;
    let rv: string;
    do {
      const page = `&limit=${this.opts.pageSize ?? 500}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`;
      const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.opts.requestTimeoutMs)]);
      const res = await get(conn, `/api/v1/pods?${this.selector}${page}`, {
        signal,
        headersTimeoutMs: this.opts.requestTimeoutMs,
      });
      const body = await readBody(res);
      if (res.statusCode !== 200) throw new Error(`list pods: ${statusText(res, body)}`);
      const list = JSON.parse(body) as {
        items?: Pod[];
        metadata?: { resourceVersion?: string; continue?: string };
      };
      pods.push(...(list.items ?? []));
      rv = list.metadata?.resourceVersion ?? '';
      cont = list.metadata?.continue || undefined;
    } while (cont);
    if (rv === '') throw new Error('list pods: the response has no resourceVersion');
    this.opts.store.replace(pods);
    this.opts.onSynced?.();
    return rv;
  }

  /** One watch request, read to its end. Throws Gone, Stalled or an error. */
  private async watch(conn: KubeConnection, fromRv: string): Promise<Ended> {
    const local = new AbortController();
    const signal = AbortSignal.any([this.abort.signal, local.signal]);
    // Ask the server to end the watch before the liveness deadline, so a healthy idle watch ends cleanly.
    const timeoutSeconds = Math.max(1, Math.floor((this.opts.livenessMs * 0.9) / 1000));
    const query =
      `/api/v1/pods?watch=1&${this.selector}&resourceVersion=${encodeURIComponent(fromRv)}` +
      `&allowWatchBookmarks=true&timeoutSeconds=${timeoutSeconds}`;
    let stalled = false;
    let liveness: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(liveness);
      liveness = setTimeout(() => {
        stalled = true;
        local.abort();
      }, this.opts.livenessMs);
    };
    arm();
    let rv = fromRv;
    let events = 0;
    let res: IncomingMessage | undefined;
    try {
      res = await get(conn, query, {
        signal,
        headersTimeoutMs: Math.min(this.opts.requestTimeoutMs, this.opts.livenessMs),
      });
      if (res.statusCode === 410) throw new Gone('watch pods: 410 Gone');
      if (res.statusCode !== 200)
        throw new Error(`watch pods: ${statusText(res, await readBody(res, 65536))}`);
      this.okSinceMs ??= Date.now();
      res.setEncoding('utf8');
      let buffered = '';
      for await (const chunk of res) {
        arm();
        // Only the new text can hold a newline: the buffered part has none (no rescan per chunk).
        let from = buffered.length;
        buffered += chunk as string;
        let nl: number;
        while ((nl = buffered.indexOf('\n', from)) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          from = 0;
          if (line === '') continue;
          const next = this.apply(line);
          events++;
          if (next !== undefined) rv = next;
        }
        if (buffered.length > MAX_EVENT_BYTES)
          throw new Error(`watch pods: no end of event within ${MAX_EVENT_BYTES} characters of the stream`);
      }
      return { kind: 'ended', resourceVersion: rv, events };
    } catch (err) {
      if (stalled) throw new Stalled(`watch pods: no event or bookmark for ${this.opts.livenessMs} ms`);
      throw err;
    } finally {
      clearTimeout(liveness);
      res?.destroy();
    }
  }

  /** One watch event; the resourceVersion it carries. */
  private apply(line: string): string | undefined {
    const event = JSON.parse(line) as {
      type?: string;
      object?: Pod & { code?: number; reason?: string; message?: string };
    };
    const type = event.type ?? 'UNKNOWN';
    this.opts.onWatchEvent?.(type);
    if (type !== 'ERROR') {
      this.failures = 0;
      this.opts.onSynced?.();
    }
    const obj = event.object ?? {};
    switch (type) {
      case 'ADDED':
      case 'MODIFIED':
        this.opts.store.upsert(obj);
        break;
      case 'DELETED':
        this.opts.store.remove(obj);
        break;
      case 'BOOKMARK':
        break;
      case 'ERROR':
        if (obj.code === 410) throw new Gone(`watch pods: ${obj.message ?? 'resource version too old'}`);
        throw new Error(
          `watch pods: error event ${obj.code ?? '?'} ${obj.reason ?? ''}: ${obj.message ?? ''}`,
        );
      default:
        return undefined;
    }
    return obj.metadata?.resourceVersion;
  }
}

function statusText(res: IncomingMessage, body: string): string {
  let message = body.slice(0, 200);
  try {
    const status = JSON.parse(body) as { message?: string };
    if (status.message) message = status.message;
  } catch {
    // not a Status object: keep the text
  }
  return `HTTP ${res.statusCode ?? '?'} ${message}`.trim();
}
