import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import { CollectorError, CollectorErrors, describeSystemError } from '../../errors.ts';
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
    try {
      return readFileSync(full);
    } catch (err) {
      errors.push(
        new CollectorError(C.value, `cannot read ${JSON.stringify(file)}: ${describeSystemError(err)}`, {
          path: `${path}.tls.${key}`,
          cause: err,
        }),
      );
      return undefined;
    }
  };
  const ca = read('ca_file');
  const cert = read('cert_file');
  const key = read('key_file');
  // grpc-js and https check PEM only when they connect; check now for an actionable message.
  if (ca) {
    const problem = caProblem(ca);
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

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Why a CA bundle is unusable, or undefined (Node ignores junk in `ca` silently). */
function caProblem(pem: Buffer): string | undefined {
  const blocks = pem.toString('latin1').match(PEM_CERT) ?? [];
  if (blocks.length === 0) return 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)';
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (err) {
      return `certificate ${i + 1} is not valid: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  return undefined;
}
