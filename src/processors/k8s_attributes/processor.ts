import type { OperatorFunction } from 'rxjs';
import type { Logger } from 'pino';
import type { ComponentHealth, Host, Processor } from '../../pipeline/component.ts';
import type { MetricBatch } from '../../pipeline/data.ts';
import type { SelfFamily } from '../../pipeline/telemetry.ts';
import type { K8sAttributesProcessorConfig } from './config.ts';
import {
  inClusterConnection,
  kubeconfigConnection,
  plainConnection,
  type KubeConnection,
} from './connection.ts';
import { k8sAttributes } from './operator.ts';
import { PodIndex } from './pod-index.ts';
import { PodWatcher, type WatchState } from './pod-watcher.ts';

/**
 * processor `k8s_attributes`: pod metadata on points, associated by the pod
 * uid / container id labels the `container` processor adds, from a watch of
 * this node's pods. Never throws after start: an unreachable API degrades to
 * passing points with their container labels only (logged once per outage,
 * counted).
 */
export class K8sAttributesProcessor implements Processor {
  readonly operator: OperatorFunction<MetricBatch, MetricBatch>;
  readonly index: PodIndex;
  private readonly config: K8sAttributesProcessorConfig;
  private readonly nodeName: string;
  private readonly logger: Logger;
  private readonly listeners = new Set<() => void>();
  private watcher: PodWatcher | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private state: WatchState = 'connecting';
  private degradedLogged = false;
  private lastFailureLogMs = -Infinity;
  /** Since when the watch is unavailable, and why (health). */
  private unavailableSince: number | undefined;
  private lastError: string | undefined;
  /** When the pod cache was last known current (list, event, bookmark, watch ended at its timeout). */
  private lastSyncMs: number | undefined;
  private events: SelfFamily | undefined;
  private relists: SelfFamily | undefined;
  private released: SelfFamily | undefined;
  private degraded: SelfFamily | undefined;

  constructor(config: K8sAttributesProcessorConfig, nodeName: string, logger: Logger) {
    this.config = config;
    this.nodeName = nodeName;
    this.logger = logger;
    this.index = new PodIndex(config.extract, config.deleted_grace);
    this.operator = k8sAttributes(
      {
        available: () => this.state !== 'unavailable',
        find: (uid, cid) => this.index.find(uid, cid),
        forgotten: (uid, cid) => this.index.isForgotten(uid, cid),
        subscribe: (listener) => {
          this.listeners.add(listener);
          return () => this.listeners.delete(listener);
        },
      },
      {
        podUidLabel: config.pod_uid_label,
        containerIdLabel: config.container_id_label,
        pendingTimeoutMs: config.pending_timeout,
        maxPending: config.max_pending,
        onReleased: (reason, ids) => {
          this.released?.add({ reason }, ids.length);
          this.logger.warn(
            { reason, pods: ids.slice(0, 10), count: ids.length },
            reason === 'timeout'
              ? `no pod known for these ids after ${config.pending_timeout} ms: points pass without pod labels`
              : `more than ${config.max_pending} unknown pods held: points pass without pod labels`,
          );
        },
        onDegraded: () => {
          this.degraded?.add({});
          if (this.degradedLogged) return;
          this.degradedLogged = true;
          this.logger.warn('Kubernetes API unavailable: points pass with their container labels only');
        },
      },
    );
  }

  /** Watch state, for tests and `describe()`. */
  get watchState(): WatchState {
    return this.state;
  }

  async start(host: Host): Promise<void> {
    if (this.watcher) return;
    const t = host.telemetry;
    this.events = t.counter('k8s_watch_events_total', 'Pod watch events received, by type');
    this.relists = t.counter('k8s_relists_total', 'Full lists of the pods of this node, by reason');
    this.released = t.counter(
      'k8s_pending_released_total',
      'Unknown pods whose points passed without pod labels, by reason (timeout, full)',
    );
    this.degraded = t.counter(
      'k8s_degraded_batches_total',
      'Batches passed without waiting for pod metadata because the Kubernetes API was unavailable',
    );
    const cached = t.gauge('k8s_pods_cached', 'Pods in the metadata cache (deleted ones in grace included)');
    const live = t.gauge('k8s_watch_live', '1 while the pod watch is established, else 0');
    const lastSync = t.gauge(
      'k8s_watch_last_sync_timestamp_seconds',
      'Unix time the pod cache was last known current: a list completed, a watch event or bookmark came, or a watch ended at its timeout',
    );
    t.onSnapshot(() => {
      cached.set({}, this.index.size);
      live.set({}, this.state === 'live' ? 1 : 0);
      if (this.lastSyncMs !== undefined) lastSync.set({}, this.lastSyncMs / 1000);
    });
    this.watcher = new PodWatcher({
      connection: () => this.connection(),
      nodeName: this.nodeName,
      store: {
        replace: (pods) => {
          this.index.replace(pods);
          this.notify();
        },
        upsert: (pod) => {
          this.index.upsert(pod);
          this.notify();
        },
        remove: (pod) => this.index.remove(pod),
      },
      livenessMs: this.config.liveness_timeout,
      requestTimeoutMs: this.config.request_timeout,
      backoffInitialMs: this.config.backoff_initial,
      backoffMaxMs: this.config.backoff_max,
      onWatchEvent: (type) => this.events?.add({ type }),
      onRelist: (reason) => this.relists?.add({ reason }),
      onState: (state, error) => this.onState(state, error),
      onSynced: () => {
        this.lastSyncMs = Date.now();
      },
    });
    this.watcher.start();
    this.sweeper = setInterval(
      () => this.index.sweep(),
      Math.min(this.config.deleted_grace, 60_000) || 1_000,
    );
    this.sweeper.unref();
  }

  async shutdown(): Promise<void> {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    const w = this.watcher;
    this.watcher = undefined;
    await w?.stop();
  }

  describe(): Record<string, unknown> {
    return { node: this.nodeName, watch: this.state, pods: this.index.size };
  }

  /** When the pod cache was last known current (ms since the epoch), for tests. */
  get lastSync(): number | undefined {
    return this.lastSyncMs;
  }

  /**
   * Ready while it runs: with the API unavailable points still pass, with their container
   * labels only — a problem to list (`/readyz` degraded), not a reason to take the pod out of
   * its Service (which would stop the scrapes too).
   */
  health(): ComponentHealth {
    const details = {
      node: this.nodeName,
      watch: this.state,
      pods: this.index.size,
      ...(this.lastSyncMs !== undefined ? { last_sync: new Date(this.lastSyncMs).toISOString() } : {}),
    };
    if (this.state !== 'unavailable' || this.unavailableSince === undefined)
      return { ready: true, problems: [], details };
    const since = new Date(this.unavailableSince).toISOString();
    return {
      ready: true,
      problems: [
        `Kubernetes pod watch failing since ${since}: ${this.lastError ?? 'unavailable'}; points pass with container labels only`,
      ],
      details: { ...details, failing_since: since, last_error: this.lastError },
    };
  }

  private connection(): KubeConnection | Promise<KubeConnection> {
    switch (this.config.auth_type) {
      case 'serviceAccount':
        return inClusterConnection();
      case 'kubeConfig':
        return kubeconfigConnection(this.config.kubeconfig_path, this.config.context);
      case 'none':
        return plainConnection(this.config.endpoint as string);
    }
  }

  private onState(state: WatchState, error: string | undefined): void {
    const previous = this.state;
    this.state = state;
    if (state === 'unavailable') {
      this.unavailableSince ??= Date.now();
      if (error !== undefined) this.lastError = error;
    } else if (state === 'live') {
      this.unavailableSince = undefined;
      this.lastError = undefined;
    }
    if (
      state === 'unavailable' &&
      previous !== 'unavailable' &&
      Date.now() - this.lastFailureLogMs > 60_000
    ) {
      // At most one warning a minute, also while a restarting API flaps between live and failing.
      this.lastFailureLogMs = Date.now();
      this.degradedLogged = false;
      this.logger.warn(
        { node: this.nodeName, err: error },
        'pod watch failed: retrying with backoff; known pods keep their labels',
      );
    } else if (state === 'unavailable') {
      // Already warned (this outage or less than a minute ago).
      this.logger.debug({ err: error }, 'pod watch still failing');
    } else if (state === 'live' && previous === 'unavailable') {
      this.logger.info({ node: this.nodeName, pods: this.index.size }, 'pod watch recovered');
    } else if (state === 'live' && error !== undefined) {
      this.logger.warn({ err: error }, 'pod watch stalled: re-listing');
    } else if (state === 'live') {
      this.logger.debug({ node: this.nodeName, pods: this.index.size }, 'pod watch established');
    }
    if (state !== previous) this.notify();
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }
}
