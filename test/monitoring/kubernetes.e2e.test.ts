/**
 * The dashboards' cluster-only parts against a real Prometheus: the agent runs
 * pipelines/kubernetes.yaml (k8s_attributes pointed at a fake API server that knows one pod), a
 * process in that pod's cgroup (kubelet's systemd layout, containerd) is moved between CPUs so
 * the scheduler migrates it, and Prometheus scrapes the agent with the `node` target label the
 * ServiceMonitor adds. With the variables set to that node and the pod's namespace (not "All"),
 * every Programs panel of the kubernetes pipeline's metrics returns data, the by-pod panel
 * returns the pod by namespace and name, and the `node` and `namespace` variables' queries
 * return the node and the namespace. The Kubernetes pod watch's panels (agent dashboard) and
 * EbpfCollectorKubernetesWatchDown's signal have data and the alert is quiet; then the API server
 * goes away, and the alert's expression returns the agent, /readyz lists the processor as
 * degraded and /status says why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { RULES_FILE } from '../../deploy/monitoring/generate.ts';
import { clusterOnly, programMetrics, repoRoot } from '../../deploy/monitoring/metrics.ts';
import { signals } from '../../deploy/monitoring/rules.ts';
import { findCgroup2Mount } from '../../src/kernel/cgroup-table.ts';
import { spawnInCgroup } from '../helpers/cgroup-child.ts';
import { FakeKubeApi, fakePod } from '../helpers/fake-kube-api.ts';
import { httpGet, startAgent } from '../helpers/agent.ts';
import { PROMETHEUS, query, until, startPrometheus } from '../helpers/prometheus-api.ts';
import { panelQueries, ruleQueries } from './queries.ts';

const JOB = 'ebpf-collector';
const NODE = 'node-e2e';
const NAMESPACE = 'shop';
const POD = 'web-7d4b9';

const skip =
  process.getuid?.() !== 0
    ? 'needs root (BPF, cgroups)'
    : existsSync(PROMETHEUS) || process.env['CI']
      ? false
      : 'Debian prometheus not installed (scripts/setup.sh --test)';

/** Moves itself between CPU 0 and 1 (each move is a scheduler migration) until stdin closes. */
const MIGRATOR = `
import os, sys, threading
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
cpus = sorted(os.sched_getaffinity(0))
i = 0
while not stop.is_set():
    os.sched_setaffinity(0, {cpus[i % len(cpus)]})
    i += 1
    stop.wait(0.005)
`;

function labelValues(port: number, label: string, match: string): Promise<string[]> {
  return httpGet(port, `/api/v1/label/${label}/values?match[]=${encodeURIComponent(match)}`).then(
    (r) => (JSON.parse(r.body) as { data: string[] }).data,
  );
}

/** Grafana's substitution with the variables set to one node and one namespace. */
function selected(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '15s')
    .replaceAll('$job', JOB)
    .replaceAll('$node', NODE)
    .replaceAll('$namespace', NAMESPACE);
}

test(
  'on a (fake) cluster: the node and namespace variables and the by-pod panels return the pod',
  { skip, timeout: 180_000 },
  async () => {
    const root = findCgroup2Mount();
    assert.ok(root, 'no cgroup2 mount');
    const uid = randomUUID();
    const containerId = randomBytes(32).toString('hex');
    const podSlice = join(
      root,
      'kubepods.slice',
      'kubepods-burstable.slice',
      `kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice`,
    );
    const dirs = [
      join(root, 'kubepods.slice'),
      join(root, 'kubepods.slice', 'kubepods-burstable.slice'),
      podSlice,
    ];
    const leaf = join(podSlice, `cri-containerd-${containerId}.scope`);
    dirs.push(leaf);
    const created: string[] = [];
    for (const d of dirs) {
      try {
        mkdirSync(d);
        created.push(d);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    const api = new FakeKubeApi();
    await api.listen();
    api.add(
      fakePod(uid, POD, { namespace: NAMESPACE, node: NODE, container: { name: 'nginx', id: containerId } }),
    );
    const worker = await spawnInCgroup(leaf, ['-c', MIGRATOR]);

    const dir = mkdtempSync(join(tmpdir(), 'monitoring-k8s-'));
    const override = join(dir, 'fake-api.yaml');
    writeFileSync(
      override,
      `processors:\n  k8s_attributes:\n    auth_type: none\n    endpoint: ${api.url}\n`,
    );
    const agent = await startAgent([join(repoRoot, 'pipelines', 'kubernetes.yaml'), override], {
      K8S_NODE_NAME: NODE,
    });
    const prom = await startPrometheus(
      dir,
      `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - ${join(repoRoot, RULES_FILE)}
scrape_configs:
  - job_name: ${JOB}
    static_configs:
      - targets: ['127.0.0.1:${agent.port}']
        labels: { node: ${NODE} }
`,
    );
    const promPort = prom.port;
    try {
      const metric = 'ebpf_exporter_cgroup_sched_migrations_total';
      await until(
        'the pod’s migrations in Prometheus',
        async () => {
          const r = await query(
            promPort,
            `${metric}{k8s_namespace_name="${NAMESPACE}", k8s_pod_name="${POD}", node="${NODE}"}`,
          );
          return r.length > 0 ? r : undefined;
        },
        60_000,
      );
      await new Promise((r) => setTimeout(r, 16_000)); // a full rate interval of samples

      // The variables' queries (label_values(…)).
      assert.deepEqual(await labelValues(promPort, 'node', `ebpf_exporter_build_info{job=~"${JOB}"}`), [
        NODE,
      ]);
      assert.ok(
        (
          await labelValues(
            promPort,
            'k8s_namespace_name',
            '{__name__=~"ebpf_exporter_.+", k8s_namespace_name!=""}',
          )
        ).includes(NAMESPACE),
      );

      // Every Programs panel of the kubernetes pipeline's metrics, at this node and namespace.
      const pipeline = parse(readFileSync(join(repoRoot, 'pipelines', 'kubernetes.yaml'), 'utf8')) as {
        receivers: Record<string, { program: string }>;
      };
      const names = Object.values(pipeline.receivers).flatMap((r) =>
        programMetrics(r.program).map((m) => m.name),
      );
      const queries = panelQueries().filter(
        (q) => q.dashboard === 'ebpf-collector-programs.json' && names.some((n) => q.expr.includes(`${n}{`)),
      );
      assert.ok(queries.length >= 3, `${queries.length} panel queries`);
      const empty: string[] = [];
      for (const q of queries)
        if ((await query(promPort, selected(q.expr))).length === 0)
          empty.push(`"${q.panel}": ${selected(q.expr)}`);
      assert.deepEqual(empty, []);

      // The by-pod panel names the pod.
      const byPod = queries.find((q) => q.panel.includes('by namespace / pod') && q.expr.includes(metric));
      assert.ok(byPod);
      const pods = await query(promPort, selected(byPod.expr));
      assert.ok(
        pods.some((s) => s.metric['k8s_namespace_name'] === NAMESPACE && s.metric['k8s_pod_name'] === POD),
        JSON.stringify(pods.map((s) => s.metric)),
      );
      // …and only pods of the selected namespace.
      assert.deepEqual(new Set(pods.map((s) => s.metric['k8s_namespace_name'])), new Set([NAMESPACE]));

      // The pod watch: its agent-dashboard panels and its alert's signal have data, the alert is quiet.
      const watchPanels = panelQueries().filter(
        (q) => q.dashboard === 'ebpf-collector-agent.json' && clusterOnly(q.expr),
      );
      assert.ok(watchPanels.length >= 3, `${watchPanels.length} pod watch panels`);
      const emptyWatch: string[] = [];
      for (const q of watchPanels)
        if ((await query(promPort, selected(q.expr))).length === 0)
          emptyWatch.push(`"${q.panel}": ${selected(q.expr)}`);
      assert.deepEqual(emptyWatch, []);
      const watchSignals = signals().filter((s) => clusterOnly(s.signal));
      assert.deepEqual(
        watchSignals.map((s) => s.alert),
        ['EbpfCollectorKubernetesWatchDown'],
      );
      for (const s of watchSignals)
        assert.ok((await query(promPort, s.signal)).length > 0, `${s.alert}: no data for ${s.signal}`);
      const down = ruleQueries().find((r) => r.alert === 'EbpfCollectorKubernetesWatchDown');
      assert.ok(down);
      assert.deepEqual(await query(promPort, down.expr), [], 'the watch is up: the alert is quiet');

      // The API server goes away: the alert's expression returns the agent (it fires after its
      // `for`), /readyz lists the processor as degraded (still 200: points flow), /status says why.
      await api.close();
      await until(
        'the watch down in Prometheus',
        async () => {
          const r = await query(promPort, down.expr);
          return r.length > 0 ? r : undefined;
        },
        30_000,
      );
      const ready = await httpGet(agent.port, '/readyz');
      assert.equal(ready.status, 200, ready.body);
      assert.match(ready.body, /degraded:[\s\S]*k8s_attributes[\s\S]*Kubernetes pod watch failing since/);
      const status = await httpGet(agent.port, '/status');
      assert.match(status.body, /Kubernetes pod watch failing since/);
    } catch (err) {
      throw new Error(
        `${String(err)}\nprometheus log:\n${prom.log().slice(-2000)}\nagent log:\n${agent.logs.slice(-15).join('\n')}`,
        { cause: err },
      );
    } finally {
      await worker.finish();
      const promStopped = prom.stop();
      const code = await agent.stop();
      await promStopped;
      await api.close();
      for (const d of created.reverse()) rmdirSync(d);
      rmSync(dir, { recursive: true, force: true });
      assert.equal(code, 0);
    }
  },
);
