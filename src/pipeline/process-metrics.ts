import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { SelfTelemetry } from './telemetry.ts';

/**
 * Resolution of the event-loop delay monitor; subtracted from its max (an idle loop reads
 * about this much). Each tick wakes the process: at 10 ms that alone cost about 1 % of a
 * core here (twice the agent's whole CPU budget); at 100 ms it is lost in the noise. A
 * block of d ms then reads between d − 100 and d ms: long blocks, the ones that delay
 * scrapes and ring-buffer drains, still show.
 */
const RESOLUTION_MS = 100;

/**
 * Process metrics under their standard Prometheus names (client_golang / prom-client), so
 * dashboards and alerts written for other exporters work unchanged; the prometheus exporter
 * does not put its namespace in front of them. Values are read at each snapshot.
 *
 * `nodejs_eventloop_lag_seconds` is the longest event-loop delay since the previous snapshot
 * (of any exporter), minus the monitor's resolution (100 ms): a single long block shows in
 * the max, not in percentiles. Returns a function that stops the monitor.
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
  let monitor: ReturnType<typeof monitorEventLoopDelay> | undefined = monitorEventLoopDelay({
    resolution: RESOLUTION_MS,
  });
  monitor.enable();
  start.set({}, Math.round(processStartMs) / 1000);
  telemetry.onSnapshot(() => {
    rss.set({}, process.memoryUsage.rss());
    const usage = process.cpuUsage();
    cpu.set({}, (usage.user + usage.system) / 1e6);
    if (monitor) {
      // max is 0 before the first sample; the histogram is in nanoseconds.
      const maxMs = monitor.count > 0 ? monitor.max / 1e6 : RESOLUTION_MS;
      lag.set({}, Math.max(0, maxMs - RESOLUTION_MS) / 1000);
      monitor.reset();
    }
  });
  return () => {
    monitor?.disable();
    monitor = undefined;
  };
}
