import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';

/**
 * File descriptors kept for the agent's own work (BPF iterators, map and link fds,
 * perf buffers, /proc and cgroup reads, OTLP connections), out of reach of the metrics
 * endpoint's clients: a quarter of RLIMIT_NOFILE, at least 256.
 */
export function fdReserve(limit: number): number {
  return Math.max(256, Math.ceil(limit / 4));
}

/**
 * The soft RLIMIT_NOFILE of this process (Node raises it to the hard limit at start), from
 * /proc/self/limits; undefined when unknown or unlimited.
 */
export function openFileLimit(limits = '/proc/self/limits'): number | undefined {
  let text: string;
  try {
    text = readFileSync(limits, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  const n = Number(m?.[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * Connections the endpoint holds at once: `max_connections`, and never more than
 * RLIMIT_NOFILE minus the reserve (at least 1).
 */
export function connectionCap(configured: number, limit = openFileLimit()): number {
  if (limit === undefined) return configured;
  return Math.max(1, Math.min(configured, limit - fdReserve(limit)));
}

/** Why the gate closed a connection. */
export const DROP_REASONS = ['evicted', 'refused', 'silent'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

interface Connection {
  /** When it was admitted (ms, monotonic). */
  readonly since: number;
  /** Requests seen on it. */
  requests: number;
  /** Responses in progress on it. */
  busy: number;
}

/**
 * Connection accounting of the metrics endpoint. At most `cap` connections are open; a
 * new one beyond the cap closes the least recently used connection that has no response
 * in progress (so a flood of idle sockets cannot lock a scraper out), or is closed itself
 * when every connection is busy. A connection that sends no request within `silentMs` is
 * closed (Node's headersTimeout only starts with a request's first byte).
 */
export class ConnectionGate {
  readonly cap: number;
  private readonly silentMs: number;
  private readonly onDrop: (reason: DropReason) => void;
  /** Least recently used first: a connection moves to the end at each request. */
  private readonly open = new Map<Socket, Connection>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(cap: number, silentMs: number, onDrop: (reason: DropReason) => void = () => undefined) {
    this.cap = cap;
    this.silentMs = silentMs;
    this.onDrop = onDrop;
  }

  /** Connections open now. */
  get size(): number {
    return this.open.size;
  }

  /** Take a new connection, or close it; true when taken. */
  admit(socket: Socket): boolean {
    if (this.open.size >= this.cap && !this.evictIdle()) {
      socket.destroy();
      this.onDrop('refused');
      return false;
    }
    this.open.set(socket, { since: performance.now(), requests: 0, busy: 0 });
    socket.once('close', () => this.open.delete(socket));
    this.sweeper ??= setInterval(() => this.sweep(), Math.min(1000, this.silentMs)).unref();
    return true;
  }

  /** A request arrived on this connection; `done` when its response is over. */
  request(socket: Socket): () => void {
    const c = this.open.get(socket);
    if (!c) return () => undefined;
    c.requests++;
    c.busy++;
    this.open.delete(socket);
    this.open.set(socket, c);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      c.busy--;
    };
  }

  /** Close every connection (shutdown). */
  close(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const s of this.open.keys()) s.destroy();
    this.open.clear();
  }

  private evictIdle(): boolean {
    for (const [socket, c] of this.open) {
      if (c.busy > 0) continue;
      this.open.delete(socket);
      socket.destroy();
      this.onDrop('evicted');
      return true;
    }
    return false;
  }

  private sweep(): void {
    const before = performance.now() - this.silentMs;
    for (const [socket, c] of this.open) {
      if (c.requests > 0 || c.since > before) continue;
      this.open.delete(socket);
      socket.destroy();
      this.onDrop('silent');
    }
    if (this.open.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}
