import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeKubeApi } from '../../../test/helpers/fake-kube-api.ts';
import { selfSignedCert } from '../../../test/helpers/tls-cert.ts';
import {
  SERVICE_ACCOUNT_DIR,
  get,
  inClusterConnection,
  kubeconfigConnection,
  plainConnection,
  readBody,
  type KubeConnection,
} from './connection.ts';

const opts = () => ({ signal: AbortSignal.timeout(5_000), headersTimeoutMs: 5_000 });

async function request(conn: KubeConnection): Promise<number | undefined> {
  const res = await get(conn, '/api/v1/pods', opts());
  await readBody(res);
  return res.statusCode;
}

/** Run `body` with the in-cluster environment variables set (KubeConfig.loadFromCluster reads them). */
async function withServiceEnv(port: number, body: () => Promise<void>): Promise<void> {
  const saved = [process.env['KUBERNETES_SERVICE_HOST'], process.env['KUBERNETES_SERVICE_PORT']];
  process.env['KUBERNETES_SERVICE_HOST'] = '127.0.0.1';
  process.env['KUBERNETES_SERVICE_PORT'] = String(port);
  try {
    await body();
  } finally {
    for (const [i, name] of ['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT'].entries()) {
      const v = saved[i];
      if (v === undefined) delete process.env[name];
      else process.env[name] = v;
    }
  }
}

test('in-cluster over TLS: CA from the mounted file, and a rotated token is sent by the next request', async () => {
  const tls = selfSignedCert();
  const api = new FakeKubeApi({ tls });
  await api.listen();
  const root = mkdtempSync(join(tmpdir(), 'sa-'));
  const dir = join(root, SERVICE_ACCOUNT_DIR);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'ca.crt'), tls.cert);
  writeFileSync(join(dir, 'token'), 'first-token');
  writeFileSync(join(dir, 'namespace'), 'ebpf-collector');
  try {
    await withServiceEnv(api.port, async () => {
      const conn = await inClusterConnection(root);
      assert.equal(conn.server.href, `https://127.0.0.1:${api.port}/`);
      assert.equal(await request(conn), 200);
      // The kubelet rotates the projected token (it swaps a symlink; for a reader that is a new file
      // content at the same path). Tokens are written without a trailing newline.
      writeFileSync(join(dir, 'token'), 'second-token');
      assert.equal(await request(conn), 200);
      assert.deepEqual(
        api.headers.map((h) => h.authorization),
        ['Bearer first-token', 'Bearer second-token'],
      );
      // The CA really is what makes the server trusted: another CA fails the handshake.
      writeFileSync(join(dir, 'ca.crt'), selfSignedCert().cert);
      await assert.rejects(request(conn), /self-signed|unable to verify|certificate/i);
    });
  } finally {
    await api.close();
  }
});

test('in-cluster: outside a cluster, and without a mounted token, a clear error', async () => {
  await withServiceEnv(443, async () => {
    await assert.rejects(
      inClusterConnection(mkdtempSync(join(tmpdir(), 'sa-'))),
      /no service-account token at .*\/token/,
    );
  });
  const saved = process.env['KUBERNETES_SERVICE_HOST'];
  delete process.env['KUBERNETES_SERVICE_HOST'];
  try {
    await assert.rejects(inClusterConnection(), /not running in a cluster/);
  } finally {
    if (saved !== undefined) process.env['KUBERNETES_SERVICE_HOST'] = saved;
  }
});

test('kubeconfig with an exec credential plugin (as EKS and GKE use): its token is sent, the plugin runs once while it is valid', async () => {
  const tls = selfSignedCert();
  const api = new FakeKubeApi({ tls });
  await api.listen();
  try {
    const dir = mkdtempSync(join(tmpdir(), 'kc-'));
    writeFileSync(join(dir, 'ca.pem'), tls.cert);
    const runs = join(dir, 'runs');
    const plugin = join(dir, 'credential-plugin.sh');
    // A credential plugin prints an ExecCredential on stdout (client.authentication.k8s.io/v1).
    writeFileSync(
      plugin,
      [
        '#!/bin/sh',
        `echo run >> '${runs}'`,
        `echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-token-'"$1"'","expirationTimestamp":"2999-01-01T00:00:00Z"}}'`,
      ].join('\n') + '\n',
    );
    chmodSync(plugin, 0o755);
    const file = join(dir, 'config');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: eks',
        'clusters:',
        `- name: c\n  cluster:\n    server: ${api.url}\n    certificate-authority: ca.pem`,
        'users:',
        '- name: plugin',
        '  user:',
        '    exec:',
        '      apiVersion: client.authentication.k8s.io/v1',
        `      command: ${plugin}`,
        '      args: [abc]',
        '      interactiveMode: Never',
        '- name: static\n  user:\n    token: t0k',
        'contexts:',
        '- name: eks\n  context: {cluster: c, user: plugin}',
        '- name: dev\n  context: {cluster: c, user: static}',
      ].join('\n'),
    );
    const conn = await kubeconfigConnection(file);
    assert.equal(conn.server.href, `${api.url}/`);
    assert.equal(await request(conn), 200);
    assert.equal(await request(conn), 200);
    assert.deepEqual(
      api.headers.map((h) => h.authorization),
      ['Bearer exec-token-abc', 'Bearer exec-token-abc'],
    );
    assert.equal(readFileSync(runs, 'utf8'), 'run\n');

    assert.equal(await request(await kubeconfigConnection(file, 'dev')), 200);
    assert.equal(api.headers[2]?.authorization, 'Bearer t0k');
    await assert.rejects(kubeconfigConnection(file, 'nope'), /no context named "nope"/);
  } finally {
    await api.close();
  }
});

test('auth_type none: the endpoint as it is, no credentials', async () => {
  const api = new FakeKubeApi();
  await api.listen();
  try {
    assert.equal(await request(plainConnection(api.url)), 200);
    assert.equal(api.headers[0]?.authorization, undefined);
  } finally {
    await api.close();
  }
});
