/**
 * The one error shape of the project. Every problem a user can act on is a
 * CollectorError with a stable code (listed in docs/errors.md) and, where the
 * problem comes from a file, its position. `format()` gives the one-line form:
 *
 *   pipelines/x.yaml:12:15: receivers.ebpf/bio.poll_interval: expected … [ERR_CONFIG_TYPE]
 *   load bpf/x.bpf.o: program p: verifier rejected it: … [ERR_BPF_VERIFIER]
 */
export interface Position {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export interface CollectorErrorOptions {
  readonly position?: Position | undefined;
  /** Key path as the user spelled it, e.g. `receivers.ebpf/timers.poll_interval`. */
  readonly path?: string | undefined;
  /** Extra lines shown under the message (libbpf log, verifier excerpt). */
  readonly details?: readonly string[] | undefined;
  readonly cause?: unknown;
}

export class CollectorError extends Error {
  readonly code: string;
  readonly position: Position | undefined;
  readonly path: string | undefined;
  readonly details: readonly string[];

  constructor(code: string, message: string, options: CollectorErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CollectorError';
    this.code = code;
    this.position = options.position;
    this.path = options.path;
    this.details = options.details ?? [];
  }

  /** One line: `file:line:col: path: message [CODE]`. */
  format(): string {
    const where = this.position ? `${this.position.file}:${this.position.line}:${this.position.col}: ` : '';
    const path = this.path ? `${this.path}: ` : '';
    return `${where}${path}${this.message} [${this.code}]`;
  }

  /** The one line plus indented details. */
  formatLong(): string {
    return [this.format(), ...this.details.map((d) => `    ${d}`)].join('\n');
  }
}

/** Several problems found in one pass (config validation reports all at once). */
export class CollectorErrors extends Error {
  readonly errors: readonly CollectorError[];

  constructor(errors: readonly CollectorError[]) {
    super(errors.map((e) => e.format()).join('\n'));
    this.name = 'CollectorErrors';
    this.errors = sortErrors(errors);
  }
}

export function sortErrors(errors: readonly CollectorError[]): CollectorError[] {
  return [...errors].sort((a, b) => {
    const pa = a.position;
    const pb = b.position;
    if (!pa || !pb) return pa ? -1 : pb ? 1 : 0;
    return pa.file.localeCompare(pb.file) || pa.line - pb.line || pa.col - pb.col;
  });
}

/** Text of any thrown value, without a stack. */
export function messageOf(err: unknown): string {
  if (err instanceof CollectorError) return err.format();
  if (err instanceof Error) return err.message;
  return String(err);
}

/** A Node system error as text: "ENOENT: no such file or directory, open 'x'" → "no such file or directory (ENOENT)". */
export function describeSystemError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (typeof e?.code === 'string' && /^E[A-Z0-9]+$/.test(e.code)) {
    const m = /^E[A-Z0-9]+: ([^,]+)/.exec(message);
    return `${m?.[1] ?? message} (${e.code})`;
  }
  return message;
}

/** Longest value quoted whole in a message; longer ones are cut (clip). */
export const MAX_SHOWN_CHARS = 200;

/** Text as shown in a message (a path, a name): cut at MAX_SHOWN_CHARS with an ellipsis and the full length. */
export function cut(text: string): string {
  return text.length <= MAX_SHOWN_CHARS
    ? text
    : `${text.slice(0, MAX_SHOWN_CHARS)}… (${text.length} characters)`;
}

/**
 * A value as quoted in a message: JSON-quoted, cut at MAX_SHOWN_CHARS characters with an
 * ellipsis and the full length, so a 1 MiB string does not make a 1 MiB error line.
 */
export function clip(value: string): string {
  if (value.length <= MAX_SHOWN_CHARS) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, MAX_SHOWN_CHARS))}… (${value.length} characters)`;
}

/**
 * Problems a user fixes in a config file (the CLI exits 2), as opposed to what the kernel or
 * machine refused (exit 1). An object that cannot be opened (missing, not a BPF ELF) is the
 * config's `program:` too.
 */
export function isConfigError(e: CollectorError): boolean {
  return (
    /^ERR_CONFIG_/.test(e.code) ||
    [
      'ERR_EBPF_METRICS_FILE',
      'ERR_EBPF_OBJECT',
      'ERR_EBPF_LAYOUT',
      'ERR_EBPF_KADDR',
      'ERR_BPF_OPEN',
    ].includes(e.code)
  );
}
