import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Paths of a throwaway PKI made with openssl: nothing is committed. */
export interface TestPki {
  readonly dir: string;
  /** The CA that signs the server and the good client. */
  readonly caCert: string;
  /** Server certificate for 127.0.0.1 and localhost, and its key. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** A client certificate (SAN DNS:scraper) signed by the CA, and its key. */
  readonly clientCert: string;
  readonly clientKey: string;
  /** A client certificate signed by another CA (not trusted by the server). */
  readonly strangerCert: string;
  readonly strangerKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** An EC P-256 key pair and a certificate signed by `ca` (self-signed when undefined). */
export function issue(
  dir: string,
  name: string,
  subject: string,
  san: string | undefined,
  ca: { cert: string; key: string } | undefined,
): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  if (!ca) {
    openssl(dir, [
      ...['req', '-x509', '-new', '-key', key, '-out', cert, '-days', '2', '-subj', subject],
      ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'],
    ]);
    return { cert, key };
  }
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `basicConstraints=CA:FALSE\n${san ? `subjectAltName=${san}\n` : ''}`);
  openssl(dir, ['req', '-new', '-key', key, '-out', csr, '-subj', subject]);
  openssl(dir, [
    ...['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial'],
    ...['-out', cert, '-days', '2', '-extfile', ext],
  ]);
  return { cert, key };
}

/** A CA, a server certificate for 127.0.0.1/localhost, a client certificate and an untrusted one. */
export function makePki(dir: string): TestPki {
  const ca = issue(dir, 'ca', '/CN=ebpf-collector test CA', undefined, undefined);
  const server = issue(dir, 'server', '/CN=localhost', 'IP:127.0.0.1,DNS:localhost', ca);
  const client = issue(dir, 'client', '/CN=scraper', 'DNS:scraper', ca);
  const otherCa = issue(dir, 'other-ca', '/CN=another CA', undefined, undefined);
  const stranger = issue(dir, 'stranger', '/CN=stranger', 'DNS:stranger', otherCa);
  return {
    dir,
    caCert: ca.cert,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
    strangerCert: stranger.cert,
    strangerKey: stranger.key,
  };
}
