import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeKubeApi } from '../../../test/helpers/fake-kube-api.ts';
import { get, inClusterConnection, kubeconfigConnection, readBody } from './connection.ts';

const opts = () => ({ signal: AbortSignal.timeout(5_000), headersTimeoutMs: 5_000 });

test('in-cluster: address from the environment, CA and token from the service-account directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sa-'));
  writeFileSync(join(dir, 'ca.crt'), 'CA');
  writeFileSync(join(dir, 'token'), 'tok');
  const c = inClusterConnection({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, dir);
  assert.equal(c.baseUrl.href, 'https://[fd00::1]/');
  assert.equal(c.ca?.toString(), 'CA');
  assert.equal(c.tokenFile, join(dir, 'token'));
  assert.throws(() => inClusterConnection({}, dir), /not running in a cluster/);
});

test('the token file is re-read for every request (rotated service-account tokens)', async () => {
  const api = new FakeKubeApi();
  await api.listen();
  try {
    const dir = mkdtempSync(join(tmpdir(), 'sa-'));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'first\n');
    const conn = { baseUrl: new URL(api.url), tokenFile };
    await readBody(await get(conn, '/api/v1/pods', opts()));
    writeFileSync(tokenFile, 'second\n');
    await readBody(await get(conn, '/api/v1/pods', opts()));
    assert.deepEqual(
      api.headers.map((h) => h.authorization),
      ['Bearer first', 'Bearer second'],
    );
  } finally {
    await api.close();
  }
});

test('kubeconfig: current context’s server and token; a named context; exec is refused', async () => {
  const api = new FakeKubeApi();
  await api.listen();
  try {
    const dir = mkdtempSync(join(tmpdir(), 'kc-'));
    const file = join(dir, 'config');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: dev',
        'clusters:',
        `- name: local\n  cluster:\n    server: ${api.url}`,
        'users:',
        '- name: me\n  user:\n    token: t0k',
        '- name: plugin\n  user:\n    exec: {command: aws}',
        'contexts:',
        '- name: dev\n  context: {cluster: local, user: me}',
        '- name: eks\n  context: {cluster: local, user: plugin}',
      ].join('\n'),
    );
    const conn = kubeconfigConnection(file);
    assert.equal(conn.baseUrl.href, `${api.url}/`);
    const res = await get(conn, '/api/v1/pods', opts());
    assert.equal(res.statusCode, 200);
    await readBody(res);
    assert.equal(api.headers[0]?.authorization, 'Bearer t0k');
    assert.throws(() => kubeconfigConnection(file, 'eks'), /exec and auth-provider are not supported/);
    assert.throws(() => kubeconfigConnection(file, 'nope'), /no context named "nope"/);
  } finally {
    await api.close();
  }
});
