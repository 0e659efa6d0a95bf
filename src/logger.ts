import { pino, type DestinationStream, type Logger } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** `json`: one JSON object a line; `console`: tab-separated, for people (the collector's two encodings). */
export type LogEncoding = 'json' | 'console';

export interface LoggerOptions {
  /** false: no `time` field (ebpf_exporter's --log.no-timestamps, for journald which stamps lines itself). */
  readonly timestamps?: boolean;
  /** Default `json`. */
  readonly encoding?: LogEncoding;
  /** Where lines go (tests); default stderr, written synchronously. */
  readonly destination?: DestinationStream;
}

/**
 * Logs on stderr (stdout stays free for command output), the level by name (`"level":"warn"`,
 * not pino's 40) in both encodings:
 *
 *   json     {"level":"info","time":1765112400000,"service":"ebpf-collector","msg":"agent started",…}
 *   console  2026-12-07T13:00:00.000Z	info	agent started	{"service":"ebpf-collector",…}
 *
 * `console` is the collector's console encoding (zap's): time, level, message, then the other
 * fields as one JSON object; without timestamps the line starts with the level.
 */
export function createLogger(level: LogLevel = 'info', options: LoggerOptions = {}): Logger {
  const stderr = options.destination ?? pino.destination({ fd: 2, sync: true });
  const out = options.encoding === 'console' ? consoleStream(stderr) : stderr;
  return pino(
    {
      level,
      base: { service: 'ebpf-collector' },
      formatters: { level: (label) => ({ level: label }) },
      ...(options.timestamps === false ? { timestamp: false } : {}),
    },
    out,
  );
}

/** pino's JSON lines rewritten into the console encoding. */
function consoleStream(next: DestinationStream): DestinationStream {
  return { write: (line: string) => next.write(consoleLine(line)) };
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v);
}

/** One JSON log line in the console encoding (a line that is not a JSON object passes unchanged). */
export function consoleLine(line: string): string {
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return line;
  const { time, level, msg, ...fields } = rec as Record<string, unknown>;
  const parts: string[] = [];
  if (typeof time === 'number') parts.push(new Date(time).toISOString());
  // One record, one line: a message's own line breaks are escaped as JSON would.
  parts.push(text(level), text(msg).replace(/\r?\n/g, '\\n'));
  if (Object.keys(fields).length > 0) parts.push(JSON.stringify(fields));
  return `${parts.join('\t')}\n`;
}
