import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfigFiles } from '../../config/load.ts';
import { validate } from '../../config/validate.ts';
import { CollectorErrors } from '../../errors.ts';
import { loadAgentConfig } from '../../service.ts';
import { makePki, type TestPki } from '../../../test/helpers/certs.ts';
import { webConfigSchema } from './webconfig.ts';
import { loadWebSettings } from './websecurity.ts';

const td = (name: string): string => relative(process.cwd(), join(import.meta.dirname, 'testdata', name));

let dir: string;
let pki: TestPki;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'webconfig-'));
  pki = makePki(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The problems of loading a web config, one formatted line each. */
function problems(load: () => unknown): string[] {
  try {
    load();
  } catch (err) {
    if (err instanceof CollectorErrors) return err.errors.map((e) => e.format());
    throw err;
  }
  return [];
}

describe('web config (exporter-toolkit format)', () => {
  it('reports every bad key and value of a file at once, positioned in it', async () => {
    const file = td('web-bad.yml');
    const loaded = await loadConfigFiles([file], {});
    const r = validate(webConfigSchema, loaded, []);
    const ciphers =
      'TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256';
    assert.deepEqual(
      r.errors.map((e) => e.format()),
      [
        `${file}:5:16: tls_server_config.min_version: TLS11 is refused: TLS 1.0 and 1.1 are deprecated (RFC 8996) and this endpoint speaks TLS 1.2 or newer; use TLS12 or TLS13 [ERR_CONFIG_VALUE]`,
        `${file}:6:16: tls_server_config.max_version: expected one of TLS12, TLS13, got "TLS14" (did you mean "TLS12"?) [ERR_CONFIG_ENUM]`,
        `${file}:7:21: tls_server_config.client_auth_type: expected one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert, got "RequireAndVerifyClientCertificate" [ERR_CONFIG_ENUM]`,
        `${file}:8:58: tls_server_config.cipher_suites[1]: unknown cipher suite "TLS_RSA_WITH_RC4_128_SHA"; expected one of ${ciphers} [ERR_CONFIG_ENUM]`,
        `${file}:9:34: tls_server_config.curve_preferences[1]: unknown curve "P-384"; expected one of CurveP256, CurveP384, CurveP521, X25519 [ERR_CONFIG_ENUM]`,
        `${file}:10:3: tls_server_config.ca_file: unknown key; expected one of cert, key, client_ca, cert_file, key_file, client_ca_file, client_auth_type, client_allowed_sans, min_version, max_version, cipher_suites, prefer_server_cipher_suites, curve_preferences (did you mean "cert_file"?) [ERR_CONFIG_UNKNOWN_KEY]`,
        `${file}:13:22: http_server_config.headers.X-Frame-Options: X-Frame-Options takes "deny" or "sameorigin" [ERR_CONFIG_VALUE]`,
        `${file}:14:5: http_server_config.headers.X-Powered-By: unknown key; expected one of Content-Security-Policy, X-Frame-Options, X-Content-Type-Options, X-XSS-Protection, Strict-Transport-Security [ERR_CONFIG_UNKNOWN_KEY]`,
        `${file}:16:10: basic_auth_users.alice: expected a bcrypt hash like "$2y$10$…" (60 characters; make one with \`htpasswd -nBC 10 "" | tr -d ':\\n'\`) [ERR_CONFIG_VALUE]`,
        `${file}:17:3: basic_auth_users.bob:x: a user name must not contain ":" or control characters [ERR_CONFIG_VALUE]`,
        `${file}:19:3: rate_limit: rate_limit is not supported here; the exporter setting max_requests bounds concurrent scrapes [ERR_CONFIG_VALUE]`,
      ],
    );
  });

  it('reports keys that contradict each other', async () => {
    const file = td('web-bad-rules.yml');
    const loaded = await loadConfigFiles([file], {});
    const r = validate(webConfigSchema, loaded, []);
    assert.deepEqual(
      r.errors.map((e) => e.format()),
      [
        `${file}:3:3: tls_server_config: TLS needs a private key: give key_file (or key) [ERR_CONFIG_VALUE]`,
        `${file}:3:9: tls_server_config.cert: give cert or cert_file, not both [ERR_CONFIG_VALUE]`,
        `${file}:5:21: tls_server_config.client_auth_type: RequireAndVerifyClientCert verifies client certificates: give client_ca_file (or client_ca) [ERR_CONFIG_VALUE]`,
        `${file}:8:16: tls_server_config.max_version: max_version is lower than min_version [ERR_CONFIG_VALUE]`,
      ],
    );
  });

  it('loads a good file with its certificates, relative to the file; TLS 1.2 is the floor by default', () => {
    const sub = join(dir, 'good');
    mkdirSync(sub);
    copyFileSync(td('web-good.yml'), join(sub, 'web.yml'));
    copyFileSync(pki.serverCert, join(sub, 'server.crt'));
    copyFileSync(pki.serverKey, join(sub, 'server.key'));
    copyFileSync(pki.caCert, join(sub, 'ca.crt'));
    const s = loadWebSettings({ file: join(sub, 'web.yml') });
    assert.equal(s.tls?.clientAuth, 'RequireAndVerifyClientCert');
    assert.equal(s.tls?.context.minVersion, 'TLSv1.2');
    assert.equal(s.tls?.context.maxVersion, 'TLSv1.3');
    assert.equal(s.tls?.context.ciphers, 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384');
    assert.equal(s.tls?.context.ecdhCurve, 'X25519:P-256');
    assert.deepEqual([...s.users.keys()], ['alice']);
    assert.deepEqual(s.headers, { 'Strict-Transport-Security': 'max-age=31536000' });
    assert.deepEqual(
      s.files,
      ['web.yml', 'server.crt', 'server.key', 'ca.crt'].map((f) => join(sub, f)),
    );
  });

  it('files it names must be small regular files: /dev/zero, a FIFO, a directory, a 2 MiB file and a missing one are clear errors', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const big = join(dir, 'big.pem');
    writeFileSync(big, '');
    truncateSync(big, 2 * 1024 * 1024);
    const web = (cert: string, key: string): { file: string } => {
      const file = join(dir, 'files.yml');
      writeFileSync(file, `tls_server_config:\n  cert_file: ${cert}\n  key_file: ${key}\n`);
      return { file };
    };
    const f = join(dir, 'files.yml');
    assert.deepEqual(
      problems(() => loadWebSettings(web('/dev/zero', fifo))),
      [
        `${f}:2:14: tls_server_config.cert_file: /dev/zero is not a regular file (a character device); give the path of a file [ERR_CONFIG_VALUE]`,
        `${f}:3:13: tls_server_config.key_file: ${fifo} is not a regular file (a FIFO); give the path of a file [ERR_CONFIG_VALUE]`,
      ],
    );
    assert.deepEqual(
      problems(() => loadWebSettings(web(dir, big))),
      [
        `${f}:2:14: tls_server_config.cert_file: ${dir} is a directory, not a file [ERR_CONFIG_VALUE]`,
        `${f}:3:13: tls_server_config.key_file: ${big} is 2097152 bytes; at most 1048576 bytes are read [ERR_CONFIG_VALUE]`,
      ],
    );
    assert.deepEqual(
      problems(() => loadWebSettings(web(pki.serverCert, join(dir, 'nope.key')))),
      [
        `${f}:3:13: tls_server_config.key_file: ${join(dir, 'nope.key')} cannot be read: no such file or directory (ENOENT) [ERR_CONFIG_VALUE]`,
      ],
    );
    // A key that does not belong to the certificate.
    assert.deepEqual(
      problems(() => loadWebSettings(web(pki.serverCert, pki.clientKey))),
      [
        `${f}:2:14: tls_server_config.cert_file: the certificate and key are not a usable PEM pair: error:05800074:x509 certificate routines::key values mismatch [ERR_CONFIG_VALUE]`,
      ],
    );
    // The web config file itself is bounded the same way.
    assert.deepEqual(
      problems(() => loadWebSettings({ file: '/dev/zero', namedAt: { path: '--web.config.file' } })),
      [
        '--web.config.file: web config file /dev/zero is not a regular file (a character device); give the path of a file [ERR_CONFIG_READ]',
      ],
    );
  });

  it('the exporter config checks web_config and web_config_file when the config loads, positioned in the pipeline file', async () => {
    const file = td('bad-web-config.yaml');
    const lines = await loadAgentConfig([file]).then(
      () => [],
      (err: unknown) => (err instanceof CollectorErrors ? err.errors.map((e) => e.format()) : [String(err)]),
    );
    const web = join(import.meta.dirname, 'testdata', 'no-such-web.yml');
    const key = join(import.meta.dirname, 'testdata', 'missing.key');
    assert.deepEqual(lines, [
      `${file}:9:7: exporters.prometheus.web_config.basic_auth_userz: unknown key; expected one of tls_server_config, http_server_config, basic_auth_users, rate_limit (did you mean "basic_auth_users"?) [ERR_CONFIG_UNKNOWN_KEY]`,
      `${file}:9:7: exporters.prometheus.web_config: give web_config_file or web_config, not both [ERR_CONFIG_VALUE]`,
      `${file}:14:20: exporters.prometheus/inline.web_config.tls_server_config.cert_file: /dev/zero is not a regular file (a character device); give the path of a file [ERR_CONFIG_VALUE]`,
      `${file}:15:19: exporters.prometheus/inline.web_config.tls_server_config.key_file: ${key} cannot be read: no such file or directory (ENOENT) [ERR_CONFIG_VALUE]`,
      `${file}:18:22: exporters.prometheus/file.web_config_file: web config file ${web} cannot be read: no such file or directory (ENOENT) [ERR_CONFIG_READ]`,
    ]);
  });
});
