/**
 * The committed dashboards and alert rules against a real Prometheus (Debian's) scraping a live
 * agent that runs pipelines/default.yaml (plus an OTLP exporter towards a closed port, so the
 * exporter metrics and the failing-exporter alert have something to show), under load the test
 * makes: Python 3.11 imports (usdt), TCP connections to a local listener (accept queue, SYN
 * backlog), fsync'd writes (block I/O), and a process OOM-killed in a 16 MiB memory cgroup
 * (memcg reclaim, OOM victims). Every panel query and every rule's signal, evaluated through
 * /api/v1/query with the dashboards' variables at "All", must return data, except:
 *
 *   - metrics of hook sets this kernel does not run (bpf/*.yaml `hooks:`): computed from the
 *     hook set each program chose here (ebpf_collector_program_attached{hook}); on this kernel
 *     (no kprobes, no fentry, no hardware PMU) that is shrink_node_latency_seconds,
 *     accept_latency_seconds, oom_kills_total, page_cache_ops_total, tcp_window_clamps_total,
 *     bpf_jit_pages_currently_allocated (kprobe/fentry/syscall sets) and llcstat's
 *     llc_references_total and llc_misses_total (no PMU: llcstat runs nowhere). Their queries
 *     must return nothing, so an exclusion cannot hide a broken query of a metric that exists.
 *   - the `k8s_attributes` processor's self-metrics (`clusterOnly`: the Kubernetes pod watch
 *     panels and EbpfCollectorKubernetesWatchDown's signal): the default pipeline does not run
 *     that processor, so they too must return nothing here; kubernetes.e2e.test.ts checks them.
 *   - nothing else: the pod panels' `k8s_namespace_name`/`k8s_pod_name` exist only on a cluster,
 *     but with the variables at "All" (`.*`, which matches an absent label) they return the host's
 *     series grouped under empty labels. The `node` and `namespace` variables' own queries are
 *     cluster-only (the ServiceMonitor adds `node`; k8s_attributes the namespace) and are not
 *     evaluated here; the `job` variable's is.
 *
 * The full alert expressions run too: on this healthy host only EbpfCollectorExporterFailing
 * fires (its OTLP peer refuses), and Prometheus reports every rule's evaluation healthy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RULES_FILE } from '../../deploy/monitoring/generate.ts';
import {
  clusterOnly,
  defaultPrograms,
  programMetrics,
  repoRoot,
  type ProgramMetric,
} from '../../deploy/monitoring/metrics.ts';
import { signals } from '../../deploy/monitoring/rules.ts';
import { findCgroupV1Mount } from '../../src/kernel/cgroups.ts';
import { findCgroup2Mount } from '../../src/kernel/cgroup-table.ts';
import { readMountInfo } from '../../src/kernel/mountinfo.ts';
import { rmdirRetry } from '../cgroups/helpers.ts';
import { httpGet, startAgent } from '../helpers/agent.ts';
import { spawnInCgroup } from '../helpers/cgroup-child.ts';
import { freePort } from '../helpers/program-run.ts';
import { PROMETHEUS, query, until, startPrometheus } from '../helpers/prometheus-api.ts';
import { panelQueries, ruleQueries, substitute } from './queries.ts';

const PYTHON311 = '/usr/bin/python3.11';
const JOB = 'ebpf-collector';
/** $__rate_interval as Grafana would make it for a 1 s scrape interval (4 × scrape, and more). */
const RATE_INTERVAL = '15s';

const skip =
  process.getuid?.() !== 0
    ? 'needs root (BPF)'
    : existsSync(PROMETHEUS)
      ? false
      : process.env['CI']
        ? false
        : 'Debian prometheus not installed (scripts/setup.sh --test)';

/** Python that, once in its cgroup, touches 1 MiB chunks until the OOM killer stops it. */
const HOG = `
import sys
sys.stdin.read(1)
chunks = []
for i in range(512):
    chunks.append(bytearray(1 << 20))
`;

/** A memory cgroup limited to 16 MiB and a child OOM-killed in it: memcg reclaim, then an OOM kill. */
async function oomKill(): Promise<string> {
  const v1 = findCgroupV1Mount('memory', readMountInfo());
  const root = v1 ?? findCgroup2Mount();
  if (!root) return 'no memory cgroup';
  const dir = join(root, `ebpf-collector-monitoring-${process.pid}`);
  mkdirSync(dir);
  try {
    writeFileSync(join(dir, v1 ? 'memory.limit_in_bytes' : 'memory.max'), String(16 << 20));
    const child = await spawnInCgroup(dir, ['-c', HOG]);
    child.send('x');
    const { signal } = await child.finish();
    return signal === 'SIGKILL' ? 'killed' : `not killed (${String(signal)})`;
  } finally {
    await rmdirRetry(dir);
  }
}

/** Load for the histograms and counters that need events; returns a stop function. */
async function load(dir: string): Promise<{ stop: () => Promise<void> }> {
  const server: Server = createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  let stopped = false;
  const children = new Set<ChildProcess>();
  const loop = async (): Promise<void> => {
    while (!stopped) {
      // Python module imports (usdt) and malloc calls (uprobe) of a new process.
      const py = spawn(PYTHON311, ['-c', 'import json, decimal, fractions, statistics'], { stdio: 'ignore' });
      children.add(py);
      await new Promise((r) => py.once('exit', r));
      children.delete(py);
      // Accepted connections (accept queue wait, SYN backlog).
      await Promise.all(
        Array.from(
          { length: 20 },
          () =>
            new Promise<void>((r) =>
              connect(port, '127.0.0.1')
                .on('close', () => r())
                .on('error', () => r()),
            ),
        ),
      );
      // Block I/O that reaches the disk.
      const fd = openSync(join(dir, 'io'), 'w');
      writeSync(fd, Buffer.alloc(1 << 20, 1));
      fsyncSync(fd);
      closeSync(fd);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const running = loop();
  return {
    async stop() {
      stopped = true;
      await running;
      for (const c of children) c.kill();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Names an expression mentions among `names`. */
function mentioned(expr: string, names: Iterable<string>): string[] {
  return [...names].filter((n) => new RegExp(`\\b${n}(_bucket)?\\{`).test(expr));
}

test(
  'every dashboard panel and alert rule returns data from a real Prometheus scraping the agent under load',
  { skip, timeout: 240_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'monitoring-e2e-'));
    const closed = await freePort(); // nothing listens there: every OTLP export is refused
    const otlp = join(dir, 'otlp.yaml');
    writeFileSync(
      otlp,
      `exporters:
  otlp:
    endpoint: http://127.0.0.1:${closed}
    interval: 1s
    timeout: 1s
    retry_on_failure: { initial_interval: 100ms, max_interval: 500ms }
service:
  pipelines:
    metrics:
      exporters: [prometheus, otlp]
`,
    );
    const agent = await startAgent([join(repoRoot, 'pipelines', 'default.yaml'), otlp]);
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
`,
    );
    const promPort = prom.port;
    const work = await load(dir);
    try {
      await until('the agent scraped', async () => {
        const r = await query(promPort, `up{job="${JOB}"}`);
        return r[0]?.value[1] === '1' ? r : undefined;
      });
      assert.equal(await oomKill(), 'killed');

      // Hook sets chosen here → the metrics that cannot exist on this kernel.
      const chosen = new Map<string, string>();
      for (const s of await query(promPort, 'ebpf_collector_program_attached == 1'))
        chosen.set(s.metric['config'] ?? '', s.metric['hook'] ?? '');
      const metrics: ProgramMetric[] = defaultPrograms().flatMap(programMetrics);
      const absentHere = new Map<string, string>();
      for (const m of metrics) {
        const hook = chosen.get(m.program);
        if (hook === undefined) absentHere.set(m.name, `${m.program} runs on no hook set here`);
        else if (m.hooks && !m.hooks.includes(hook))
          absentHere.set(m.name, `${m.hooks.join('/')} only; ${m.program} runs on ${hook} here`);
      }
      // Exclusions are for hook sets only: every one is a metric of some hook sets, or llcstat's.
      for (const [name, why] of absentHere) {
        const m = metrics.find((x) => x.name === name);
        assert.ok(m?.hooks || m?.program === 'llcstat', `${name} excluded: ${why}`);
      }

      // Wait until the rates cover enough scrapes and the event-driven series exist.
      const eventDriven = metrics.filter((m) => !absentHere.has(m.name)).map((m) => m.name);
      await until(
        'every metric of the chosen hook sets to be scraped',
        async () => {
          const missing: string[] = [];
          for (const n of eventDriven) {
            const series = metrics.find((m) => m.name === n)?.kind === 'histogram' ? `${n}_bucket` : n;
            if ((await query(promPort, `count_over_time(${series}[1m])`)).length === 0) missing.push(n);
          }
          return missing.length === 0 ? true : undefined;
        },
        60_000,
      ).catch(async (err: unknown) => {
        const missing: string[] = [];
        for (const n of eventDriven)
          if ((await query(promPort, `{__name__=~"${n}(_bucket)?"}`)).length === 0) missing.push(n);
        throw new Error(`${(err as Error).message}: missing ${missing.join(', ')}`, { cause: err });
      });
      await new Promise((r) => setTimeout(r, 16_000)); // a full rate interval of samples

      const empty: string[] = [];
      const wronglyFull: string[] = [];
      let evaluated = 0;
      for (const q of panelQueries()) {
        const expr = substitute(q.expr, RATE_INTERVAL);
        const result = await query(promPort, expr);
        evaluated++;
        const excluded = mentioned(q.expr, absentHere.keys());
        if (excluded.length > 0 || clusterOnly(q.expr)) {
          if (result.length > 0) wronglyFull.push(`${q.dashboard} "${q.panel}" ${q.refId}: ${expr}`);
        } else if (result.length === 0) empty.push(`${q.dashboard} "${q.panel}" ${q.refId}: ${expr}`);
      }
      assert.deepEqual(empty, [], `panel queries without data:\n${empty.join('\n')}`);
      assert.deepEqual(wronglyFull, [], `excluded panel queries that have data:\n${wronglyFull.join('\n')}`);
      assert.ok(evaluated >= 60, `${evaluated} panel queries`);
      const excludedQueries = panelQueries().filter(
        (q) => mentioned(q.expr, absentHere.keys()).length > 0 || clusterOnly(q.expr),
      );
      t.diagnostic(
        `${evaluated} panel queries evaluated, ${evaluated - excludedQueries.length} with data, ` +
          `${excludedQueries.length} excluded (${[...absentHere.keys()].join(', ')}; the Kubernetes watch's)`,
      );

      // The job variable's query (label_values(ebpf_exporter_build_info, job)).
      const jobs = await httpGet(promPort, `/api/v1/label/job/values?match[]=ebpf_exporter_build_info`);
      assert.deepEqual((JSON.parse(jobs.body) as { data: string[] }).data, [JOB]);

      // Rules: every signal has data (a cluster-only one none); only the failing exporter's alert expression has.
      for (const s of signals()) {
        const r = await query(promPort, s.signal);
        if (clusterOnly(s.signal)) assert.equal(r.length, 0, `${s.alert}: data for ${s.signal}`);
        else assert.ok(r.length > 0, `${s.alert}: no data for ${s.signal}`);
      }
      const firing: string[] = [];
      for (const r of ruleQueries()) if ((await query(promPort, r.expr)).length > 0) firing.push(r.alert);
      assert.deepEqual(firing, ['EbpfCollectorExporterFailing']);
      const rules = await until('the rules evaluated', async () => {
        const res = await httpGet(promPort, '/api/v1/rules');
        const groups = (
          JSON.parse(res.body) as {
            data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
          }
        ).data.groups;
        const all = groups.flatMap((g) => g.rules);
        return all.length > 0 && all.every((r) => r.health !== 'unknown') ? all : undefined;
      });
      assert.deepEqual(
        rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError ?? r.health}`),
        [],
      );
      assert.equal(rules.length, ruleQueries().length);
    } catch (err) {
      throw new Error(
        `${String(err)}\nprometheus log:\n${prom.log().slice(-2000)}\nagent log:\n${agent.logs.slice(-20).join('\n')}`,
        { cause: err },
      );
    } finally {
      await work.stop();
      const promStopped = prom.stop();
      const code = await agent.stop();
      await promStopped;
      rmSync(dir, { recursive: true, force: true });
      assert.equal(code, 0);
    }
  },
);
