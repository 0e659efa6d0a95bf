import { statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import { caBundleProblem, readNamedFileSync } from '../../config/files.ts';
import { loadConfigSources, type ConfigPath } from '../../config/load.ts';
import { validate } from '../../config/validate.ts';
import { CollectorError, CollectorErrors, type Position } from '../../errors.ts';
import { BasicAuth } from './basic-auth.ts';
import {
  opensslCiphers,
  opensslCurves,
  webConfigSchema,
  type ClientAuthType,
  type TlsServerConfig,
  type WebConfig,
} from './webconfig.ts';

/** Where the web config comes from: a file in exporter-toolkit's format, or inline in the exporter's config. */
export type WebConfigSource =
  | {
      /** Absolute path. */
      readonly file: string;
      /** Where the file was named (the `web_config_file` key or `--web.config.file`), for a read error. */
      readonly namedAt?: { readonly position?: Position | undefined; readonly path?: string | undefined };
    }
  | {
      readonly inline: WebConfig;
      /** Relative paths resolve from here (the directory of the config file). */
      readonly baseDir: string;
      /** Key path prefix for messages, e.g. `exporters.prometheus.web_config`. */
      readonly prefix: string;
      positionOf(path: ConfigPath): Position | undefined;
    };

export interface TlsSettings {
  /** For `tls.createSecureContext` / `server.setSecureContext`. */
  readonly context: SecureContextOptions;
  readonly clientAuth: ClientAuthType;
  readonly allowedSans: readonly string[] | undefined;
}

/** A web config read and checked: what the server applies. */
export interface WebSettings {
  readonly tls: TlsSettings | undefined;
  /** User → bcrypt hash; empty: no basic auth. */
  readonly users: ReadonlyMap<string, string>;
  /** Added to every response. */
  readonly headers: Readonly<Record<string, string>>;
  /** Every file read (the web config file, certificates, keys), watched for changes. */
  readonly files: readonly string[];
}

/**
 * Read and check a web config and every file it names (bounded reads of regular files),
 * then build the TLS context once to prove the certificate and key fit. Throws
 * CollectorErrors, positioned in the file (or the exporter's config) that has the problem.
 */
export function loadWebSettings(source: WebConfigSource): WebSettings {
  const errors: CollectorError[] = [];
  const files: string[] = [];
  let config: WebConfig;
  let baseDir: string;
  let at: (p: ConfigPath) => { position: Position | undefined; path: string };
  if ('file' in source) {
    files.push(source.file);
    const data = readNamedFileSync(source.file);
    if (typeof data === 'string')
      throw new CollectorErrors([
        new CollectorError(C.read, `web config file ${source.file} ${data}`, source.namedAt),
      ]);
    const loaded = loadConfigSources([{ file: source.file, text: data.toString('utf8') }]);
    const r = validate(webConfigSchema, loaded, []);
    if (!r.value) throw new CollectorErrors(r.errors);
    config = r.value;
    baseDir = dirname(source.file);
    at = (p) => ({ position: loaded.positionOf(p), path: p.join('.') });
  } else {
    config = source.inline;
    baseDir = source.baseDir;
    at = (p) => ({ position: source.positionOf(p), path: [source.prefix, ...p].join('.') });
  }
  const read = (key: 'cert_file' | 'key_file' | 'client_ca_file'): Buffer | undefined => {
    const name = config.tls_server_config?.[key];
    if (name === undefined) return undefined;
    const full = isAbsolute(name) ? name : resolve(baseDir, name);
    files.push(full);
    const data = readNamedFileSync(full);
    if (typeof data !== 'string') return data;
    errors.push(new CollectorError(C.value, `${full} ${data}`, at(['tls_server_config', key])));
    return undefined;
  };
  let tls: TlsSettings | undefined;
  const t = config.tls_server_config;
  if (t) {
    const cert = read('cert_file') ?? (t.cert === undefined ? undefined : Buffer.from(t.cert));
    const key = read('key_file') ?? (t.key === undefined ? undefined : Buffer.from(t.key));
    const ca = read('client_ca_file') ?? (t.client_ca === undefined ? undefined : Buffer.from(t.client_ca));
    if (ca) {
      const problem = caBundleProblem(ca);
      if (problem)
        errors.push(
          new CollectorError(
            C.value,
            `client CA: ${problem}`,
            at(['tls_server_config', t.client_ca_file !== undefined ? 'client_ca_file' : 'client_ca']),
          ),
        );
    }
    if (cert && key && errors.length === 0) {
      tls = tlsSettings(t, cert, key, ca);
      try {
        process.getBuiltinModule('node:tls').createSecureContext(tls.context); // tls loads only when used
      } catch (err) {
        errors.push(
          new CollectorError(
            C.value,
            `the certificate and key are not a usable PEM pair${t.cipher_suites || t.curve_preferences ? ' with these cipher suites and curves' : ''}: ${err instanceof Error ? err.message : String(err)}`,
            at(['tls_server_config', t.cert_file !== undefined ? 'cert_file' : 'cert']),
          ),
        );
      }
    }
  }
  if (errors.length > 0) throw new CollectorErrors(errors);
  return {
    tls,
    users: new Map(Object.entries(config.basic_auth_users ?? {})),
    headers: Object.fromEntries(
      Object.entries(config.http_server_config?.headers ?? {}).filter(
        (e): e is [string, string] => typeof e[1] === 'string' && e[1] !== '',
      ),
    ),
    files,
  };
}

function tlsSettings(t: TlsServerConfig, cert: Buffer, key: Buffer, ca: Buffer | undefined): TlsSettings {
  const context: SecureContextOptions = {
    cert,
    key,
    minVersion: t.min_version,
    maxVersion: t.max_version,
    honorCipherOrder: t.prefer_server_cipher_suites,
  };
  if (ca) context.ca = ca;
  const ciphers = opensslCiphers(t.cipher_suites);
  if (ciphers) context.ciphers = ciphers;
  const curves = opensslCurves(t.curve_preferences);
  if (curves) context.ecdhCurve = curves;
  return { context, clientAuth: t.client_auth_type, allowedSans: t.client_allowed_sans };
}

/** What identifies a file's content without reading it (a rotated symlink changes the inode). */
function signature(files: readonly string[]): string {
  return files
    .map((f) => {
      const st = statSync(f, { bigint: true, throwIfNoEntry: false });
      return st ? `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}` : 'missing';
    })
    .join('|');
}

/** The SANs of a peer certificate, as exporter-toolkit matches them (DNS, IP, e-mail, URI values). */
function sansOf(subjectaltname: string | undefined): string[] {
  if (!subjectaltname) return [];
  return subjectaltname
    .split(/,\s*/)
    .map((part) => /^(?:DNS|IP Address|email|URI):(.*)$/.exec(part)?.[1])
    .filter((v): v is string => v !== undefined);
}

/**
 * The web config while the agent runs: re-checked on every new connection and request
 * (one stat per file), re-read when a file changed, so a rotated certificate is served
 * from the next handshake on. A reload that fails is logged once per change and the last
 * good settings stay; switching TLS on or off or changing client_auth_type needs a restart.
 */
export class WebGuard {
  private readonly source: WebConfigSource;
  private readonly logger: Logger;
  private current: WebSettings;
  private seen: string;
  private readonly auth = new BasicAuth();
  /** Called with the new TLS settings after a reload. */
  onTlsChange: ((tls: TlsSettings) => void) | undefined;

  constructor(source: WebConfigSource, initial: WebSettings, logger: Logger) {
    this.source = source;
    this.logger = logger;
    this.current = initial;
    this.seen = signature(initial.files);
  }

  get settings(): WebSettings {
    return this.current;
  }

  /** Reload when a watched file changed. Cheap when nothing did: one stat per file. */
  refresh(): void {
    if (this.current.files.length === 0) return;
    const now = signature(this.current.files);
    if (now === this.seen) return;
    this.seen = now;
    let next: WebSettings;
    try {
      next = loadWebSettings(this.source);
    } catch (err) {
      const lines = err instanceof CollectorErrors ? err.errors.map((e) => e.format()) : [String(err)];
      this.logger.error(
        { code: 'ERR_PROMETHEUS_WEB_CONFIG', problems: lines },
        'web config reload failed; serving with the previous one [ERR_PROMETHEUS_WEB_CONFIG]',
      );
      return;
    }
    const restart =
      (next.tls === undefined) !== (this.current.tls === undefined)
        ? 'switching TLS on or off'
        : next.tls && this.current.tls && next.tls.clientAuth !== this.current.tls.clientAuth
          ? 'changing client_auth_type'
          : undefined;
    if (restart) {
      this.logger.error(
        { code: 'ERR_PROMETHEUS_WEB_CONFIG' },
        `web config changed: ${restart} needs a restart; serving with the previous one [ERR_PROMETHEUS_WEB_CONFIG]`,
      );
      return;
    }
    this.current = next;
    // Files named by the new config may differ: watch those from now on.
    this.seen = signature(next.files);
    if (next.tls) this.onTlsChange?.(next.tls);
    this.logger.info({ files: next.files }, 'web config reloaded');
  }

  /** Whether a request may pass basic auth (always, when no users are configured); see BasicAuth.check. */
  async authorized(header: string | undefined): Promise<boolean | 'busy'> {
    const users = this.current.users;
    if (users.size === 0) return true;
    return this.auth.check(users, header);
  }

  /**
   * Why a TLS client must be turned away after the handshake, for the policies OpenSSL
   * does not enforce itself (it verifies only for RequireAndVerifyClientCert), or undefined.
   */
  refusal(socket: TLSSocket): string | undefined {
    const tls = this.current.tls;
    if (!tls) return undefined;
    const cert = socket.getPeerCertificate();
    const has = cert !== null && Object.keys(cert).length > 0;
    switch (tls.clientAuth) {
      case 'RequireAnyClientCert':
        if (!has) return 'no client certificate';
        break;
      case 'VerifyClientCertIfGiven':
        if (has && !socket.authorized)
          return `client certificate not verified: ${String(socket.authorizationError)}`;
        break;
      default:
        break;
    }
    if (tls.allowedSans) {
      const sans = sansOf(has ? cert.subjectaltname : undefined);
      if (!sans.some((s) => tls.allowedSans?.includes(s)))
        return `client certificate has none of the allowed SANs (it has ${sans.length > 0 ? sans.join(', ') : 'none'})`;
    }
    return undefined;
  }
}

/** Node's `requestCert` / `rejectUnauthorized` for a client auth policy (the rest is `refusal`). */
export function clientAuthOptions(type: ClientAuthType): {
  requestCert: boolean;
  rejectUnauthorized: boolean;
} {
  return {
    requestCert: type !== 'NoClientCert',
    rejectUnauthorized: type === 'RequireAndVerifyClientCert',
  };
}
