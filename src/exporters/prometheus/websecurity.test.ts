import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import bcrypt from 'bcryptjs';
import { pino } from 'pino';
import { issue, makePki, type TestPki } from '../../../test/helpers/certs.ts';
import { MetricsServer } from './server.ts';
import { loadWebSettings, WebGuard } from './websecurity.ts';

/**
 * The endpoint with a web config, read by real TLS clients: Node's https and tls, and
 * Debian's curl. Certificates are made with openssl for each run.
 */

let dir: string;
let pki: TestPki;
const HASH = bcrypt.hashSync('s3cret', 4).replace(/^\$2b\$/, '$2y$');
const quiet = pino({ level: 'silent' });

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'websec-'));
  pki = makePki(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Write a web config file and start a server with it on a free loopback port. */
async function serve(yaml: string): Promise<{ server: MetricsServer; port: number; file: string }> {
  const file = join(dir, `web-${Math.random().toString(36).slice(2)}.yml`);
  writeFileSync(file, yaml);
  const source = { file };
  const web = new WebGuard(source, loadWebSettings(source), quiet);
  const server = new MetricsServer({
    host: '127.0.0.1',
    port: 0,
    metricsPath: '/metrics',
    maxRequests: 4,
    scrape: () => Promise.resolve('up 1\n'),
    ready: () => true,
    logger: quiet,
    web,
  });
  await server.listen();
  return { server, port: server.address.port, file };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(
  port: number,
  path: string,
  opts: { auth?: string; cert?: string; key?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        ca: readFileSync(pki.caCert),
        ...(opts.auth ? { auth: opts.auth } : {}),
        ...(opts.cert ? { cert: readFileSync(opts.cert) } : {}),
        ...(opts.key ? { key: readFileSync(opts.key) } : {}),
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['--silent', '--show-error', '--max-time', '20', ...args], (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The server certificate a fresh TLS connection is given. */
function peerCert(port: number): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = connect(
      { host: '127.0.0.1', port, ca: readFileSync(pki.caCert), servername: 'localhost' },
      () => {
        const c = s.getPeerCertificate();
        s.end();
        resolve(c);
      },
    );
    s.on('error', reject);
  });
}

test('TLS with basic auth: Node https gets 401 with WWW-Authenticate without or with wrong credentials, 200 with right ones', async () => {
  const { server, port } = await serve(
    `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverKey}\n` +
      `basic_auth_users:\n  alice: ${HASH}\n` +
      `http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n    X-Frame-Options: deny\n`,
  );
  try {
    const none = await get(port, '/metrics');
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Basic realm="ebpf-collector"');
    const wrong = await get(port, '/metrics', { auth: 'alice:wrong' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers['www-authenticate'], 'Basic realm="ebpf-collector"');
    const stranger = await get(port, '/metrics', { auth: 'mallory:s3cret' });
    assert.equal(stranger.status, 401);
    const ok = await get(port, '/metrics', { auth: 'alice:s3cret' });
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'up 1\n');
    assert.equal(ok.headers['x-content-type-options'], 'nosniff');
    assert.equal(ok.headers['x-frame-options'], 'deny');
    // The landing page is protected too; the probes are not (kubelet sends no credentials), but are TLS.
    assert.equal((await get(port, '/')).status, 401);
    const health = await get(port, '/healthz');
    assert.equal(health.status, 200);
    assert.equal(health.headers['x-frame-options'], 'deny');
    assert.equal((await get(port, '/readyz')).status, 200);
    // Plain HTTP on the TLS port gets no answer.
    const plain = await curl([`http://127.0.0.1:${port}/healthz`]);
    assert.notEqual(plain.code, 0);
  } finally {
    await server.close();
  }
});

test('curl with --cacert: right password 200, wrong password 401 with WWW-Authenticate', async () => {
  const { server, port } = await serve(
    `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverKey}\n` +
      `basic_auth_users:\n  alice: ${HASH}\n`,
  );
  try {
    const url = `https://127.0.0.1:${port}/metrics`;
    const ok = await curl(['--cacert', pki.caCert, '--user', 'alice:s3cret', url]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'up 1\n');
    const wrong = await curl([...['--cacert', pki.caCert, '--user', 'alice:nope', '--include', url]]);
    assert.equal(wrong.code, 0, wrong.stderr);
    assert.match(wrong.stdout, /^HTTP\/1\.1 401 /);
    assert.match(wrong.stdout, /\r\nwww-authenticate: Basic realm="ebpf-collector"\r\n/i);
    // Without the CA the server's certificate is not trusted.
    const untrusted = await curl(['--user', 'alice:s3cret', url]);
    assert.equal(untrusted.code, 60, untrusted.stderr);
  } finally {
    await server.close();
  }
});

test('RequireAndVerifyClientCert: no client certificate or one from another CA fails the handshake; the CA-signed one passes', async () => {
  const { server, port } = await serve(
    `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverKey}\n` +
      `  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${pki.caCert}\n`,
  );
  try {
    const url = `https://127.0.0.1:${port}/metrics`;
    const without = await curl(['--cacert', pki.caCert, url]);
    assert.notEqual(without.code, 0);
    assert.equal(without.stdout, '');
    assert.match(without.stderr, /certificate required|handshake failure|alert/i);
    const stranger = await curl([
      '--cacert',
      pki.caCert,
      '--cert',
      pki.strangerCert,
      '--key',
      pki.strangerKey,
      url,
    ]);
    assert.notEqual(stranger.code, 0);
    assert.equal(stranger.stdout, '');
    const good = await curl(['--cacert', pki.caCert, '--cert', pki.clientCert, '--key', pki.clientKey, url]);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stdout, 'up 1\n');
    await assert.rejects(get(port, '/metrics'));
    assert.equal((await get(port, '/metrics', { cert: pki.clientCert, key: pki.clientKey })).status, 200);
    // The probes sit behind the same handshake.
    await assert.rejects(get(port, '/healthz'));
  } finally {
    await server.close();
  }
});

test('RequireAnyClientCert takes any certificate but none; VerifyClientCertIfGiven takes none or a verified one', async () => {
  const any = await serve(
    `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverKey}\n` +
      `  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [scraper, stranger]\n`,
  );
  try {
    await assert.rejects(get(any.port, '/metrics'));
    const stranger = await get(any.port, '/metrics', { cert: pki.strangerCert, key: pki.strangerKey });
    assert.equal(stranger.status, 200);
  } finally {
    await any.server.close();
  }
  const sans = await serve(
    `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverKey}\n` +
      `  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${pki.caCert}\n  client_allowed_sans: [other]\n`,
  );
  try {
    // Verified, but its SAN (DNS:scraper) is not allowed.
    await assert.rejects(get(sans.port, '/metrics', { cert: pki.clientCert, key: pki.clientKey }));
  } finally {
    await sans.server.close();
  }
  const ifGiven = await serve(
    `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverKey}\n` +
      `  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ${pki.caCert}\n`,
  );
  try {
    assert.equal((await get(ifGiven.port, '/metrics')).status, 200);
    assert.equal(
      (await get(ifGiven.port, '/metrics', { cert: pki.clientCert, key: pki.clientKey })).status,
      200,
    );
    await assert.rejects(get(ifGiven.port, '/metrics', { cert: pki.strangerCert, key: pki.strangerKey }));
  } finally {
    await ifGiven.server.close();
  }
});

test('a TLS 1.1 client is refused by the server (protocol version alert), from Node and from curl', async () => {
  const { server, port } = await serve(
    `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverKey}\n`,
  );
  try {
    // SECLEVEL=0 lets the client offer TLS 1.1 at all: the refusal must come from the server.
    const err = await new Promise<Error>((resolve, reject) => {
      const s = connect({
        host: '127.0.0.1',
        port,
        ca: readFileSync(pki.caCert),
        minVersion: 'TLSv1.1',
        maxVersion: 'TLSv1.1',
        ciphers: 'DEFAULT@SECLEVEL=0',
      });
      s.on('secureConnect', () => reject(new Error('a TLS 1.1 handshake succeeded')));
      s.on('error', resolve);
    });
    assert.match(err.message, /protocol version/i);
    const c = await curl([
      ...['--cacert', pki.caCert, '--tlsv1.1', '--tls-max', '1.1', '--ciphers', 'DEFAULT@SECLEVEL=0'],
      `https://127.0.0.1:${port}/healthz`,
    ]);
    assert.notEqual(c.code, 0);
    assert.match(c.stderr, /protocol version/i);
    // TLS 1.2 and 1.3 work.
    for (const v of ['1.2', '1.3']) {
      const ok = await curl([
        '--cacert',
        pki.caCert,
        `--tlsv${v}`,
        '--tls-max',
        v,
        `https://127.0.0.1:${port}/healthz`,
      ]);
      assert.equal(ok.code, 0, ok.stderr);
    }
  } finally {
    await server.close();
  }
});

test('a rotated certificate is served from the next handshake on, without restart; a broken one keeps the last good', async () => {
  const certFile = join(dir, 'rot.crt');
  const keyFile = join(dir, 'rot.key');
  copyFileSync(pki.serverCert, certFile);
  copyFileSync(pki.serverKey, keyFile);
  const { server, port, file } = await serve(
    `tls_server_config:\n  cert_file: ${certFile}\n  key_file: ${keyFile}\n` +
      `basic_auth_users:\n  alice: ${HASH}\n`,
  );
  try {
    const first = await peerCert(port);
    assert.equal(first.subject.CN, 'localhost');
    const ca = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
    const next = issue(dir, 'rotated', '/CN=rotated', 'IP:127.0.0.1,DNS:localhost', ca);
    // Key first, then certificate (as a secret update may land): a mismatched moment keeps the last good.
    copyFileSync(next.key, keyFile);
    const mid = await peerCert(port);
    assert.equal(mid.serialNumber, first.serialNumber);
    copyFileSync(next.cert, certFile);
    const after = await peerCert(port);
    assert.equal(after.subject.CN, 'rotated');
    assert.notEqual(after.serialNumber, first.serialNumber);
    // The web config file itself is re-read too: a new user works on the next request.
    const bobHash = bcrypt.hashSync('b0b', 4);
    writeFileSync(
      file,
      `tls_server_config:\n  cert_file: ${certFile}\n  key_file: ${keyFile}\n` +
        `basic_auth_users:\n  bob: ${bobHash}\n`,
    );
    assert.equal((await get(port, '/metrics', { auth: 'bob:b0b' })).status, 200);
    assert.equal((await get(port, '/metrics', { auth: 'alice:s3cret' })).status, 401);
  } finally {
    await server.close();
  }
});

test('cipher_suites and curve_preferences (Go names) decide what a TLS 1.2 handshake uses', async () => {
  const { server, port } = await serve(
    `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverKey}\n  max_version: TLS12\n` +
      `  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n  curve_preferences: [CurveP384]\n`,
  );
  const handshake = (
    ciphers?: string,
  ): Promise<{ cipher: string; version: string; curve: string | undefined }> =>
    new Promise((resolve, reject) => {
      const s = connect(
        { host: '127.0.0.1', port, ca: readFileSync(pki.caCert), ...(ciphers ? { ciphers } : {}) },
        () => {
          const r = {
            cipher: s.getCipher().name,
            version: s.getProtocol() ?? '',
            curve: (s.getEphemeralKeyInfo() as { name?: string } | null)?.name,
          };
          s.end();
          resolve(r);
        },
      );
      s.on('error', reject);
    });
  try {
    assert.deepEqual(await handshake(), {
      cipher: 'ECDHE-ECDSA-AES256-GCM-SHA384',
      version: 'TLSv1.2',
      curve: 'secp384r1',
    });
    await assert.rejects(handshake('ECDHE-ECDSA-AES128-GCM-SHA256'), /handshake failure|no shared cipher/i);
  } finally {
    await server.close();
  }
});
