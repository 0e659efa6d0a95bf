import { existsSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { CollectorError, CollectorErrors, messageOf } from './errors.ts';
import { ReloadStopped, type ReloadSummary } from './pipeline/reload.ts';
import type { SelfFamily, SelfTelemetry } from './pipeline/telemetry.ts';
import { hashFiles } from './pipeline/wiring.ts';

/**
 * When to reload, and what a reload's outcome says: SIGHUP, or a change of a watched file
 * (the config files and the files its components read, e.g. BPF objects and metric
 * definitions). Requests within `debounceMs` of each other are one reload; a request
 * during a reload makes one more after it (never two at once, never one interrupted).
 *
 * A reload loads and checks the config completely (`load`, as `validate` does), then
 * `apply`s it (the agent swaps its pipelines, src/pipeline/reload.ts). On any failure the
 * positioned errors are logged and the old pipelines run on untouched. Prometheus' names
 * say how the last one went: `config_last_reload_successful` (1/0) and
 * `config_last_reload_success_timestamp_seconds` (both 1 and the start time after start).
 *
 * Files are watched through their directories (an editor's rename-over and a Kubernetes
 * ConfigMap's `..data` symlink swap replace the file itself); an event reloads only when
 * the content of a watched file changed since the last reload.
 */
export interface ReloaderOptions<T> {
  readonly logger: Logger;
  readonly telemetry: SelfTelemetry;
  /** Read and check the config completely; throws CollectorError(s). */
  readonly load: () => Promise<T>;
  /** Swap the running pipelines for the checked config's. */
  readonly apply: (config: T) => Promise<ReloadSummary>;
  /** The files whose change is a reason to reload (asked again after every reload). */
  readonly files: () => readonly string[];
  /** Quiet time that ends a burst of requests (default 250 ms). */
  readonly debounceMs?: number;
  /** Watch the files (default true). */
  readonly watch?: boolean;
}

export const RELOAD_SUCCESSFUL = 'config_last_reload_successful';
export const RELOAD_SUCCESS_TIME = 'config_last_reload_success_timestamp_seconds';

export class Reloader<T> {
  private readonly options: ReloaderOptions<T>;
  private readonly logger: Logger;
  private readonly debounceMs: number;
  private readonly successful: SelfFamily;
  private readonly successTime: SelfFamily;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly reasons = new Set<string>();
  private watchers = new Map<string, FSWatcher>();
  /** The watched files' content at the last reload (or start). */
  private filesHash = '';
  private watchFailures = new Set<string>();
  /** A watched directory had an event since the last check. */
  private checkFiles = false;
  /** Reloads run (for tests and the log). */
  count = 0;

  constructor(options: ReloaderOptions<T>) {
    this.options = options;
    this.logger = options.logger;
    this.debounceMs = options.debounceMs ?? 250;
    this.successful = options.telemetry.gauge(
      RELOAD_SUCCESSFUL,
      'Whether the last configuration reload attempt was successful',
    );
    this.successTime = options.telemetry.gauge(
      RELOAD_SUCCESS_TIME,
      'Timestamp of the last successful configuration reload',
    );
    // The config the agent started with is the first successful load.
    this.successful.set({}, 1);
    this.successTime.set({}, Math.floor(Date.now() / 1000));
    this.filesHash = hashFiles(this.watchedFiles());
    this.rewatch();
  }

  /** Ask for a reload (`reason`: SIGHUP, a file). Coalesced; never throws. */
  request(reason: string): void {
    if (this.stopped) return;
    this.reasons.add(reason);
    if (this.running) this.again = true;
    else this.schedule();
  }

  /** The reload in progress, if any. */
  get inProgress(): Promise<void> | undefined {
    return this.running;
  }

  /** No more reloads or watching; resolves when one in progress has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await this.running;
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => this.fire(), this.debounceMs);
  }

  /** The quiet time is over: reload if asked, or if a watched file's content changed. */
  private fire(): void {
    this.timer = undefined;
    if (this.stopped) return;
    if (this.checkFiles) {
      // Checked after the quiet time, so a burst of events (an editor, a build) costs one hash.
      this.checkFiles = false;
      if (hashFiles(this.watchedFiles()) !== this.filesHash) this.reasons.add('file changed');
    }
    if (this.reasons.size > 0) void this.run();
  }

  private async run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.once();
    await this.running;
    this.running = undefined;
    if (this.again) {
      this.again = false;
      this.schedule();
    }
  }

  private async once(): Promise<void> {
    const reasons = [...this.reasons];
    this.reasons.clear();
    this.count++;
    this.filesHash = hashFiles(this.watchedFiles());
    this.logger.info({ reasons }, 'reloading the config');
    try {
      const config = await this.options.load();
      if (this.stopped) return;
      const s = await this.options.apply(config);
      this.successful.set({}, 1);
      this.successTime.set({}, Math.floor(Date.now() / 1000));
      this.logger.info(
        { kept: s.kept.length, started: s.started, stopped: s.stopped },
        `config reloaded: ${s.kept.length} components kept, ${s.started.length} started, ${s.stopped.length} stopped`,
      );
    } catch (err) {
      if (err instanceof ReloadStopped) {
        this.logger.info('reload ended by the shutdown: what it started is stopped');
        return;
      }
      this.successful.set({}, 0);
      const errors =
        err instanceof CollectorErrors ? err.errors : err instanceof CollectorError ? [err] : undefined;
      for (const e of errors ?? []) this.logger.error({ code: e.code, details: e.details }, e.format());
      if (!errors) this.logger.error({ err: messageOf(err) }, 'reload failed');
      this.logger.error(
        { problems: errors?.length ?? 1 },
        'config reload failed: the old pipelines run on unchanged',
      );
    } finally {
      this.rewatch();
    }
  }

  /** The files to watch, absolute; ones that do not exist (a drop-in's generated source) are left out. */
  private watchedFiles(): string[] {
    let files: readonly string[];
    try {
      files = this.options.files();
    } catch {
      files = [];
    }
    return [...new Set(files.map((f) => resolve(f)))].filter((f) => existsSync(f)).sort();
  }

  /** Watch the directories of the files to watch now; stop watching the ones no longer needed. */
  private rewatch(): void {
    if (this.stopped || this.options.watch === false) return;
    const files = this.watchedFiles();
    const dirs = new Map<string, Set<string>>();
    for (const f of files) {
      const d = dirname(f);
      const names = dirs.get(d) ?? new Set<string>();
      names.add(basename(f));
      dirs.set(d, names);
    }
    for (const [dir, w] of this.watchers) {
      if (dirs.has(dir)) continue;
      w.close();
      this.watchers.delete(dir);
    }
    for (const dir of dirs.keys()) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.changed());
        w.on('error', (err) => this.watchFailed(dir, err));
        this.watchers.set(dir, w);
      } catch (err) {
        this.watchFailed(dir, err);
      }
    }
  }

  private watchFailed(dir: string, err: unknown): void {
    this.watchers.get(dir)?.close();
    this.watchers.delete(dir);
    if (this.watchFailures.has(dir)) return;
    this.watchFailures.add(dir);
    this.logger.warn(
      { dir, err: messageOf(err) },
      'cannot watch the config files here: changes reload on SIGHUP only',
    );
  }

  /** Something in a watched directory changed (which file is checked when the burst is over). */
  private changed(): void {
    if (this.stopped) return;
    this.checkFiles = true;
    if (this.running) this.again = true;
    else this.schedule();
  }
}
