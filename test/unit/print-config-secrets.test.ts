/**
 * print-config redacts secrets unless --show-secrets: the keys marked secret() in the
 * component schemas (one declaration per key, listed by secretKeyPaths). Extensions have
 * schemas too (an unknown extension type is a config error), so nothing is schemaless.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ZodType } from 'zod';
import { factories } from '../../src/components.ts';
import { extensionFactories } from '../../src/extensions/index.ts';
import { REDACTED, secretKeyPaths } from '../../src/config/types.ts';
import { runCli } from '../helpers/agent.ts';

const CONFIG = 'src/exporters/prometheus/testdata/good-web-config.yaml';
const HASH = '$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze';

describe('print-config secrets', () => {
  it('the secret-bearing keys, read off the schemas', () => {
    const paths: string[] = [];
    for (const section of ['receivers', 'processors', 'exporters'] as const) {
      for (const [type, f] of factories[section] as ReadonlyMap<string, { configSchema: ZodType }>) {
        for (const p of secretKeyPaths(f.configSchema)) paths.push(`${section}.${type}.${p}`);
      }
    }
    for (const [type, f] of extensionFactories)
      for (const p of secretKeyPaths(f.configSchema)) paths.push(`extensions.${type}.${p}`);
    assert.deepEqual(paths.sort(), [
      'exporters.otlp.headers.*',
      'exporters.otlphttp.headers.*',
      'exporters.prometheus.web_config.basic_auth_users.*',
      'exporters.prometheus.web_config.http_server_config.headers.Content-Security-Policy',
      'exporters.prometheus.web_config.http_server_config.headers.Strict-Transport-Security',
      'exporters.prometheus.web_config.http_server_config.headers.X-Content-Type-Options',
      'exporters.prometheus.web_config.http_server_config.headers.X-Frame-Options',
      'exporters.prometheus.web_config.http_server_config.headers.X-XSS-Protection',
      'exporters.prometheus.web_config.tls_server_config.key',
    ]);
  });

  it('redacts password hashes and header values by default', () => {
    const r = runCli(['print-config', '--config', CONFIG]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ {8}alice: <redacted>$/m);
    assert.match(r.stdout, /^ {6}authorization: <redacted>$/m);
    assert.match(r.stdout, /^ {10}X-Frame-Options: <redacted>$/m);
    // Not secrets: paths, names, the extension's endpoint.
    assert.match(r.stdout, /^ {8}key_file: \.\.\/\.\.\/otlp\/testdata\/tls-key\.pem$/m);
    assert.match(r.stdout, /^ {4}endpoint: 127\.0\.0\.1:0$/m);
    for (const secret of ['mDwo.lAisC94', 'abc123', 'deny'])
      assert.doesNotMatch(r.stdout, new RegExp(secret.replace(/\./g, '\\.')), secret);
    assert.equal(REDACTED, '<redacted>');
  });

  it('prints them with --show-secrets (a `$` doubled, so the output loads as the same config)', () => {
    const r = runCli(['print-config', '--show-secrets', '--config', CONFIG]);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /<redacted>/);
    assert.ok(r.stdout.includes(`        alice: ${HASH.replace(/\$/g, '$$$$')}\n`), r.stdout);
    assert.match(r.stdout, /^ {6}authorization: Bearer abc123$/m);
    assert.match(r.stdout, /^ {10}X-Frame-Options: deny$/m);
  });

  it('an inline private key is redacted', () => {
    const r = runCli(['print-config', '--config', CONFIG_INLINE_KEY]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ {8}key: <redacted>$/m);
    assert.doesNotMatch(r.stdout, /PRIVATE KEY/);
    assert.match(r.stdout, /BEGIN CERTIFICATE/, 'a certificate is public');
  });
});

const CONFIG_INLINE_KEY = 'src/exporters/prometheus/testdata/good-inline-key.yaml';
