import { isAbsolute, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import { caBundleProblem, readNamedFileSync } from '../../config/files.ts';
import { CollectorError, CollectorErrors } from '../../errors.ts';
import type { OtlpExporterConfig, TlsConfig } from './config.ts';

/** Whether the connection is plaintext: the scheme decides, else `tls.insecure`. */
export function isPlaintext(config: OtlpExporterConfig): boolean {
  return config.endpoint.tls === undefined ? config.tls.insecure : !config.endpoint.tls;
}

/**
 * gRPC channel credentials for the config: plaintext, or TLS with the system CAs or
 * `ca_file`, plus a client certificate for mutual TLS. Reads the files now (see
 * readTlsFiles), so a bad file is a config error before start rather than a connection
 * failing forever after it.
 */
export function channelCredentials(
  config: OtlpExporterConfig,
  configDir: string,
  /** Key path for messages, e.g. `exporters.otlp`. */
  path: string,
): ChannelCredentials {
  if (isPlaintext(config)) return credentials.createInsecure();
  const { ca, cert, key } = readTlsFiles(config.tls, configDir, path);
  // insecure_skip_verify: TLS, but any certificate for any name (grpc-js checks `authorized` itself).
  const verify = config.tls.insecure_skip_verify
    ? { rejectUnauthorized: false, checkServerIdentity: () => undefined }
    : {};
  return credentials.createSsl(ca ?? null, key ?? null, cert ?? null, verify);
}

export interface TlsFiles {
  readonly ca?: Buffer | undefined;
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
}

/**
 * Read `ca_file`, `cert_file` and `key_file` (relative paths from the config file's
 * directory) and check the PEM now: an unreadable file, a CA bundle with no usable
 * certificate, or a certificate and key that do not make a TLS context are config
 * errors (CollectorErrors, every problem at once).
 */
export function readTlsFiles(tls: TlsConfig, configDir: string, path: string): TlsFiles {
  const errors: CollectorError[] = [];
  const read = (key: 'ca_file' | 'cert_file' | 'key_file'): Buffer | undefined => {
    const file = tls[key];
    if (file === undefined) return undefined;
    const full = isAbsolute(file) ? file : resolve(configDir, file);
    // Bounded: a regular file of at most 1 MiB (a path to /dev/zero or a FIFO is an error, not a hang).
    const bytes = readNamedFileSync(full);
    if (typeof bytes !== 'string') return bytes;
    errors.push(
      new CollectorError(C.value, `${JSON.stringify(file)} ${bytes}`, { path: `${path}.tls.${key}` }),
    );
    return undefined;
  };
  const ca = read('ca_file');
  const cert = read('cert_file');
  const key = read('key_file');
  // grpc-js and https check PEM only when they connect; check now for an actionable message.
  if (ca) {
    const problem = caBundleProblem(ca);
    if (problem)
      errors.push(
        new CollectorError(C.value, `${JSON.stringify(tls.ca_file)}: ${problem}`, {
          path: `${path}.tls.ca_file`,
        }),
      );
  }
  if (cert && key) {
    try {
      createSecureContext({ cert, key });
    } catch (err) {
      errors.push(
        new CollectorError(
          C.value,
          `cert_file and key_file are not a usable PEM certificate and key: ${err instanceof Error ? err.message : String(err)}`,
          { path: `${path}.tls.cert_file`, cause: err },
        ),
      );
    }
  }
  if (errors.length > 0) throw new CollectorErrors(errors);
  return { ca, cert, key };
}
