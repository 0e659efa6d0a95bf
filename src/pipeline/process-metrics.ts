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
 * stops the monitor.
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
  start.set({}, Math.round(processStartMs) / 1000);
  telemetry.onSnapshot(() => {
    rss.set({}, process.memoryUsage.rss());
    const usage = process.cpuUsage();
    cpu.set({}, (usage.user + usage.system) / 1e6);
    if (monitor) lag.set({}, monitor.take() / 1000);
  });
  return () => {
    monitor?.stop();
    monitor = undefined;
  };
}
