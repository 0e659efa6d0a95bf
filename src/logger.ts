import { pino, type Logger } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LoggerOptions {
  /** false: no `time` field (ebpf_exporter's --log.no-timestamps, for journald which stamps lines itself). */
  readonly timestamps?: boolean;
}

/** Structured JSON logs on stderr (stdout stays free for command output). */
export function createLogger(level: LogLevel = 'info', options: LoggerOptions = {}): Logger {
  return pino(
    {
      level,
      base: { service: 'ebpf-collector' },
      ...(options.timestamps === false ? { timestamp: false } : {}),
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
