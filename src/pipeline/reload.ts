import type { Logger } from 'pino';
import { messageOf } from '../errors.ts';
import type { Component, Exporter, Host, Receiver } from './component.ts';
import { RECEIVER_DATA_POINTS } from './latest.ts';
import type { SelfTelemetry } from './telemetry.ts';
import { consumeInputs, type Graph, type Named } from './wiring.ts';

/**
 * Swapping a running graph for the next one (built from it by wiring.ts's buildGraph, so
 * unchanged components are the same instances):
 *
 * 1. `beforeStart` (e.g. a capability check) with what must start; it may throw.
 * 2. Start the new components downstream-first. A changed exporter is stopped just before
 *    its successor starts (it may hold the port the new one needs); every other old
 *    component keeps running, so a new receiver's programs attach before the old one's detach.
 * 3. `commit`: the streams switch to the next graph in one synchronous step.
 * 4. Exporters forget receivers that are gone; the old components no longer used stop
 *    (receivers first); the new receivers read at once, so no scrape sees a gap.
 *
 * A failure (or a shutdown) in 1–2 stops every new component, starts again the exporters
 * step 2 stopped, and rethrows: the old pipelines run on as they were.
 */
export interface ReloadOptions {
  /** Called with the components about to start, before any does; a throw ends the reload. */
  readonly beforeStart?: (fresh: { readonly receivers: number; readonly components: number }) => void;
}

export interface ReloadSummary {
  /** Component ids by what the reload did with them. */
  readonly kept: readonly string[];
  readonly started: readonly string[];
  readonly stopped: readonly string[];
}

export interface SwapContext extends ReloadOptions {
  readonly logger: Logger;
  readonly telemetry: SelfTelemetry;
  /** The host a component of the agent gets (exporters: their own, for `pull`). */
  readonly host: (exporterId?: string) => Host;
  /** True once the agent is shutting down. */
  readonly stopping: () => boolean;
  /** Switch the agent to the next graph (its streams and components). */
  readonly commit: () => void;
}

/** The reload gave way to a shutdown. */
export class ReloadStopped extends Error {
  constructor() {
    super('reload stopped: the agent is shutting down');
  }
}

export async function swapGraph(prev: Graph, next: Graph, ctx: SwapContext): Promise<ReloadSummary> {
  const before = new Set<Component>(all(prev).map((c) => c.component));
  const after = new Set<Component>(all(next).map((c) => c.component));
  const fresh = {
    exporters: next.exporters.filter((c) => !before.has(c.component)),
    processors: next.processors.filter((c) => !before.has(c.component)),
    receivers: next.receivers.filter((c) => !before.has(c.component)),
  };
  const freshAll = [...fresh.exporters, ...fresh.processors, ...fresh.receivers];
  const stale = {
    receivers: prev.receivers.filter((c) => !after.has(c.component)),
    processors: prev.processors.filter((c) => !after.has(c.component)),
    exporters: prev.exporters.filter((c) => !after.has(c.component)),
  };
  const started: Named<Component>[] = [];
  const stoppedEarly: Named<Exporter>[] = [];
  try {
    ctx.beforeStart?.({ receivers: fresh.receivers.length, components: freshAll.length });
    for (const e of fresh.exporters) {
      await turn();
      if (ctx.stopping()) throw new ReloadStopped();
      const old = stale.exporters.find((s) => s.id === e.id);
      if (old) {
        await stop(old, ctx.logger);
        stoppedEarly.push(old);
      }
      await startOne(e, ctx.host(e.id), ctx.logger);
      started.push(e);
    }
    for (const c of [...fresh.processors, ...fresh.receivers]) {
      await turn();
      if (ctx.stopping()) throw new ReloadStopped();
      await startOne(c, ctx.host(), ctx.logger);
      started.push(c);
    }
    await turn();
    if (ctx.stopping()) throw new ReloadStopped();
  } catch (err) {
    // Upstream-first, as a shutdown; shutdown() is safe before start, so the unstarted go too.
    for (const c of [...fresh.receivers, ...fresh.processors, ...fresh.exporters]) await stop(c, ctx.logger);
    await restore(prev, stoppedEarly, ctx);
    throw err;
  }
  ctx.commit();
  const nextIds = new Set(next.receivers.map((r) => r.id));
  const gone = stale.receivers.filter((r) => !nextIds.has(r.id)).map((r) => r.id);
  for (const e of next.exporters) for (const id of gone) e.component.forgetSource?.(id);
  const points = ctx.telemetry.gauge(RECEIVER_DATA_POINTS.name, RECEIVER_DATA_POINTS.help);
  for (const id of gone) points.remove({ receiver: id });
  for (const c of [...stale.receivers, ...stale.processors, ...stale.exporters]) {
    if (!stoppedEarly.includes(c as Named<Exporter>)) await stop(c, ctx.logger);
  }
  // Their first batch went out before the switch; an old receiver's shutdown removed the
  // per-config self-metric series it shared with its successor: read again now.
  await Promise.all(fresh.receivers.map((r) => readNow(r, ctx.logger)));
  return {
    kept: all(next)
      .filter((c) => before.has(c.component))
      .map((c) => c.id),
    started: freshAll.map((c) => c.id),
    stopped: [...stale.receivers, ...stale.processors, ...stale.exporters].map((c) => c.id),
  };
}

/**
 * Let the event loop run: a receiver's start loads and attaches synchronously, so without
 * this a SIGTERM (or a scrape) would wait for the whole reload.
 */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function all(g: Graph): Named<Component>[] {
  return [...g.receivers, ...g.processors, ...g.exporters];
}

async function startOne(c: Named<Component>, host: Host, logger: Logger): Promise<void> {
  try {
    await c.component.start(host);
  } catch (err) {
    logger.error({ id: c.id, err: messageOf(err) }, 'start failed');
    throw err;
  }
}

async function stop(c: Named<Component>, logger: Logger): Promise<void> {
  try {
    await c.component.shutdown();
  } catch (err) {
    logger.error({ id: c.id, err: messageOf(err) }, 'shutdown failed');
  }
}

async function readNow(r: Named<Receiver>, logger: Logger): Promise<void> {
  try {
    await r.component.collectNow();
  } catch (err) {
    logger.error({ id: r.id, err: messageOf(err) }, 'read after reload failed');
  }
}

/**
 * Exporters of the old graph that were stopped for their successors: made again from
 * their config, given the same inputs and started, in place in `prev`. One that cannot
 * be is logged and left out (the agent runs on without it).
 */
async function restore(prev: Graph, stopped: readonly Named<Exporter>[], ctx: SwapContext): Promise<void> {
  for (const old of stopped) {
    const i = prev.exporters.indexOf(old);
    const inputs = prev.inputs.get(old.component) ?? {};
    let again: Exporter | undefined;
    try {
      again = await old.remake();
      consumeInputs(again, inputs);
      await again.start(ctx.host(old.id));
    } catch (err) {
      ctx.logger.error(
        { id: old.id, err: messageOf(err) },
        'exporter could not be started again after a failed reload: it is left out',
      );
      if (again) await again.shutdown().catch(() => undefined);
      if (i >= 0) prev.exporters.splice(i, 1);
      continue;
    }
    prev.inputs.delete(old.component);
    prev.inputs.set(again, inputs);
    if (i >= 0) prev.exporters[i] = { ...old, component: again };
  }
}
