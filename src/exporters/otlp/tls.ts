import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import { CollectorError, CollectorErrors, describeSystemError } from '../../errors.ts';
import type { OtlpExporterConfig } from './config.ts';

/** Whether the connection is plaintext: the scheme decides, else `tls.insecure`. */
export function isPlaintext(config: OtlpExporterConfig): boolean {
  return config.endpoint.tls === undefined ? config.tls.insecure : !config.endpoint.tls;
}

/**
 * gRPC channel credentials for the config: plaintext, or TLS with the system CAs or
 * `ca_file`, plus a client certificate for mutual TLS. Reads the files now (relative paths
 * from the config file's directory) and checks the PEM, so a bad file is a config error
 * before start rather than a connection failing forever after it.
 */
export function channelCredentials(
  config: OtlpExporterConfig,
  configDir: string,
  /** Key path for messages, e.g. `exporters.otlp`. */
  path: string,
): ChannelCredentials {
  if (isPlaintext(config)) return credentials.createInsecure();
  const errors: CollectorError[] = [];
  const read = (key: 'ca_file' | 'cert_file' | 'key_file'): Buffer | undefined => {
    const file = config.tls[key];
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
  // grpc-js checks PEM only when it connects; check now for an actionable message.
  if (ca) {
    const problem = caProblem(ca);
    if (problem)
      errors.push(
        new CollectorError(C.value, `${JSON.stringify(config.tls.ca_file)}: ${problem}`, {
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
  // insecure_skip_verify: TLS, but any certificate for any name (grpc-js checks `authorized` itself).
  const verify = config.tls.insecure_skip_verify
    ? { rejectUnauthorized: false, checkServerIdentity: () => undefined }
    : {};
  return credentials.createSsl(ca ?? null, key ?? null, cert ?? null, verify);
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
