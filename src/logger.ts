import { pino, type Logger } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Structured JSON logs on stderr (stdout stays free for command output). */
export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: { service: 'ebpf-collector' } }, pino.destination({ fd: 2, sync: true }));
}
