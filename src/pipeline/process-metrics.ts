import { KeptOpenFile } from '../kernel/kept-open-file.ts';
import { monitorLoopBusy, type LoopBusyMonitor } from '../native/index.ts';
import type { SelfTelemetry } from './telemetry.ts';

/**
 * Process metrics under their standard Prometheus names (client_golang / prom-client), so
 * dashboards and alerts written for other exporters work unchanged; the prometheus exporter
 * does not put its namespace in front of them. Values are read at each snapshot.
 *
 * `nodejs_eventloop_lag_seconds` is the longest event-loop delay since the previous snapshot
 * (of any exporter): the longest stretch the loop ran callbacks between two waits for I/O
 * (monitorLoopBusy: no timer, so an idle agent is not woken to measure it; Node's
 * monitorEventLoopDelay at a 100 ms resolution woke it 10 times a second, most of its idle
 * CPU). A single long block shows in the max, not in percentiles. Returns a function that
 * stops the monitor (and closes the file the resident memory is read from).
 */
export function registerProcessMetrics(telemetry: SelfTelemetry): () => void {
  const processStartMs = Date.now() - process.uptime() * 1000;
  const standard = { unprefixed: true, startTimeMs: processStartMs };
  const rss = telemetry.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', standard);
  const cpu = telemetry.counter(
    'process_cpu_seconds_total',
    'Total user and system CPU time spent in seconds.',
    standard,
  );
  const start = telemetry.gauge(
    'process_start_time_seconds',
    'Start time of the process since unix epoch in seconds.',
    standard,
  );
  const lag = telemetry.gauge(
    'nodejs_eventloop_lag_seconds',
    'Longest event-loop delay since the previous collection, in seconds.',
    standard,
  );
  let monitor: LoopBusyMonitor | undefined = monitorLoopBusy();
  const resident = new ResidentMemory();
  start.set({}, Math.round(processStartMs) / 1000);
  telemetry.onSnapshot(() => {
    rss.set({}, resident.bytes());
    const usage = process.cpuUsage();
    cpu.set({}, (usage.user + usage.system) / 1e6);
    if (monitor) lag.set({}, monitor.take() / 1000);
  });
  return () => {
    monitor?.stop();
    monitor = undefined;
    resident.close();
  };
}

/**
 * The resident set size in bytes: what `process.memoryUsage.rss()` reads from
 * /proc/self/stat (the mm's resident page count), read from /proc/self/statm's second field
 * through a file opened once (a pread at offset 0 makes the kernel write it anew). The kernel
 * builds /proc/self/stat from every thread of the process: 50-55 µs per read inside the
 * agent, against a few for statm. The page size (statm counts pages; Node does not tell it)
 * is the power of two nearest to rss() / resident pages, measured once. Any failure falls
 * back to `process.memoryUsage.rss()`.
 */
export class ResidentMemory {
  private readonly file = new KeptOpenFile('/proc/self/statm');
  private pageSize = 0;
  private readonly buf = Buffer.alloc(256);
  private failed = false;

  bytes(): number {
    if (!this.failed) {
      try {
        if (this.pageSize === 0) {
          const rss = process.memoryUsage.rss();
          this.pageSize = 2 ** Math.round(Math.log2(rss / this.pages()));
        }
        const pages = this.pages();
        if (pages > 0 && Number.isFinite(this.pageSize)) return pages * this.pageSize;
      } catch {
        // below
      }
      this.failed = true;
      this.close();
    }
    return process.memoryUsage.rss();
  }

  close(): void {
    this.file.close();
  }

  /** statm's second field (resident pages); -1 when it is not there. */
  private pages(): number {
    const buf = this.buf;
    const n = this.file.read(buf);
    let i = 0;
    while (i < n && buf[i] !== 0x20) i++;
    i++;
    let pages = 0;
    let digits = 0;
    for (; i < n; i++) {
      const c = buf[i] as number;
      if (c < 0x30 || c > 0x39) break;
      pages = pages * 10 + (c - 0x30);
      digits++;
    }
    return digits > 0 ? pages : -1;
  }
}
