/**
 * The agent's endpoint behind Prometheus's web config, end to end: the built agent started
 * with --web.config.file (with --config, and in ebpf_exporter's drop-in mode), scraped over
 * HTTPS by a real Prometheus with basic_auth, a CA file and a client certificate, and by curl.
 * Certificates are made with openssl for this run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { PROMETHEUS, query, until, startPrometheus } from '../helpers/prometheus-api.ts';
import { httpGet, repoRoot, startAgentWith } from '../helpers/agent.ts';
import { makePki, type TestPki } from '../helpers/certs.ts';

function curl(args: string[]): { code: number; out: string } {
  try {
    return {
      code: 0,
      out: execFileSync('curl', ['--silent', '--show-error', '--max-time', '20', ...args], {
        encoding: 'utf8',
      }),
    };
  } catch (err) {
    return {
      code: (err as { status?: number }).status ?? -1,
      out: String((err as { stderr?: unknown }).stderr),
    };
  }
}

function webConfig(dir: string, pki: TestPki): string {
  const file = join(dir, 'web.yml');
  writeFileSync(
    file,
    `tls_server_config:
  cert_file: ${pki.serverCert}
  key_file: ${pki.serverKey}
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ${pki.caCert}
basic_auth_users:
  prometheus: ${bcrypt.hashSync('scrape-pw', 10).replace(/^\$2b\$/, '$2y$')}
`,
  );
  return file;
}

test('real Prometheus scrapes the agent over HTTPS with basic_auth, a CA file and a client certificate', async (t) => {
  if (!existsSync(PROMETHEUS)) {
    if (process.env['CI']) assert.fail('Debian prometheus is missing: scripts/setup.sh --test installs it');
    t.skip('prometheus not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'prom-tls-e2e-'));
  const pki = makePki(dir);
  const pipeline = join(dir, 'pipeline.yaml');
  writeFileSync(
    pipeline,
    `receivers:\n  ebpf/timers:\n    program: timers\nexporters:\n  prometheus:\n    endpoint: 127.0.0.1:0\n` +
      `service:\n  pipelines:\n    metrics:\n      receivers: [ebpf/timers]\n      exporters: [prometheus]\n`,
  );
  const agent = await startAgentWith(['run', '--config', pipeline, '--web.config.file', webConfig(dir, pki)]);
  const job = (name: string, password: string, clientCert: boolean): string =>
    `  - job_name: ${name}
    scheme: https
    basic_auth: { username: prometheus, password: ${password} }
    tls_config:
      ca_file: ${pki.caCert}
${clientCert ? `      cert_file: ${pki.clientCert}\n      key_file: ${pki.clientKey}\n` : ''}    static_configs:
      - targets: ['127.0.0.1:${agent.port}']
`;
  const prom = await startPrometheus(
    dir,
    `global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\nscrape_configs:\n` +
      job('ebpf', 'scrape-pw', true) +
      job('wrong_password', 'nope', true) +
      job('no_client_cert', 'scrape-pw', false),
  );
  const promPort = prom.port;
  try {
    assert.ok(
      agent.logs.some((l) => l.includes('"tls":true')),
      'the agent says it serves TLS',
    );
    // The first scrape may still be slow (an uncached bcrypt check on a loaded machine): poll until up.
    await until('up{job="ebpf"} == 1', async () => {
      const r = await query(promPort, 'up{job="ebpf"}');
      return r[0]?.value[1] === '1' ? r : undefined;
    });
    const up = await until('up for the other two jobs', async () => {
      const r = await query(promPort, 'up{job=~"wrong_password|no_client_cert"}');
      return r.length === 2 ? r : undefined;
    });
    const byJob: Record<string, string> = Object.fromEntries(
      up.map((r): [string, string] => [r.metric['job'] ?? '', r.value[1]]),
    );
    assert.deepEqual(byJob, { wrong_password: '0', no_client_cert: '0' });
    const timers = await until('kernel counters over HTTPS', async () => {
      const r = await query(promPort, 'sum(ebpf_exporter_timer_starts_total{job="ebpf"})');
      return Number(r[0]?.value[1]) > 0 ? r : undefined;
    });
    assert.ok(Number(timers[0]?.value[1]) > 0);
    // Why the other two are down, as Prometheus saw it.
    const targets = JSON.parse((await httpGet(promPort, '/api/v1/targets')).body) as {
      data: { activeTargets: { labels: { job: string }; lastError: string }[] };
    };
    const errors = Object.fromEntries(targets.data.activeTargets.map((a) => [a.labels.job, a.lastError]));
    assert.match(errors['wrong_password'] ?? '', /HTTP status 401 Unauthorized/);
    assert.match(errors['no_client_cert'] ?? '', /remote error: tls: certificate required/);
  } catch (err) {
    throw new Error(
      `${String(err)}\nprometheus log:\n${prom.log()}\nagent log:\n${agent.logs.slice(-20).join('\n')}`,
      {
        cause: err,
      },
    );
  } finally {
    const promStopped = prom.stop();
    assert.equal(await agent.stop(), 0);
    await promStopped;
    rmSync(dir, { recursive: true, force: true });
  }
});

test("ebpf_exporter's drop-in mode takes --web.config.file: HTTPS and basic auth; probes need no password", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dropin-tls-'));
  const pki = makePki(dir);
  copyFileSync(join(repoRoot, 'build', 'bpf', 'timers.bpf.o'), join(dir, 'timers.bpf.o'));
  copyFileSync(join(repoRoot, 'bpf', 'timers.yaml'), join(dir, 'timers.yaml'));
  const web = join(dir, 'web.yml');
  writeFileSync(
    web,
    `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverKey}\n` +
      `basic_auth_users:\n  alice: ${bcrypt.hashSync('pw', 10)}\n`,
  );
  const agent = await startAgentWith([
    `--config.dir=${dir}`,
    '--config.names=timers',
    '--web.listen-address=127.0.0.1:0',
    `--web.config.file=${web}`,
  ]);
  try {
    const base = `https://127.0.0.1:${agent.port}`;
    const ok = curl(['--cacert', pki.caCert, '--user', 'alice:pw', `${base}/metrics`]);
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /^ebpf_exporter_timer_starts_total\{/m);
    const wrong = curl([
      '--cacert',
      pki.caCert,
      '--user',
      'alice:no',
      '--write-out',
      '%{http_code}',
      '--output',
      '/dev/null',
      `${base}/metrics`,
    ]);
    assert.equal(wrong.out, '401');
    const probe = curl(['--cacert', pki.caCert, `${base}/healthz`]);
    assert.equal(probe.code, 0, probe.out);
    assert.equal(probe.out, 'ok\n');
    assert.equal(curl(['--cacert', pki.caCert, `${base}/readyz`]).out, 'ready\n');
  } finally {
    assert.equal(await agent.stop(), 0);
    rmSync(dir, { recursive: true, force: true });
  }
});
