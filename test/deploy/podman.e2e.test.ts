/**
 * The proof with real parts: the image (npm run image) under podman + runc, run as the rendered
 * DaemonSet (kubectl kustomize deploy/kustomize/base) says — its securityContext, seccomp
 * profile, mounts, hostPID, env, limits and args, translated by deploy/image/pod-to-podman.ts,
 * its ConfigMap as the config. Host network (the pod network needs a CNI this VM lacks) with
 * the metrics endpoint moved to an ephemeral loopback port (EBPF_COLLECTOR_LISTEN).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ENTRYPOINT, IMAGE_VERSION, repoRoot } from '../../deploy/image/manifest.ts';
import { addedCapabilities, podRun, type PodRun } from '../../deploy/image/pod-to-podman.ts';
import { HOST_RUN_FLAGS, podman, podmanRun } from '../../deploy/image/podman.ts';
import { maskOf, namesOf, threadCapabilities } from '../../src/native/caps.ts';
import { httpGet, samples } from '../helpers/agent.ts';
import { testImage } from '../helpers/image.ts';

const image = await testImage();
const skip = 'skip' in image ? image.skip : false;
const ref = 'skip' in image ? '' : image.ref;

/** The seccomp profile the project ships; nodes install it under the kubelet's seccomp directory. */
const SECCOMP_PROFILE = join(repoRoot, 'deploy', 'seccomp', 'ebpf-collector.json');
const START_BOUND_MS = 90_000;
const RELEASE_BOUND_MS = 5_000;

type Obj = Record<string, unknown>;

interface ContainerSpec {
  image?: string;
  securityContext?: {
    capabilities?: { add?: string[]; drop?: string[] };
    seccompProfile?: { type?: string; localhostProfile?: string };
  };
}

/** The DaemonSet's (only) container. */
function containerOf(daemonSet: Obj): ContainerSpec {
  const spec = daemonSet['spec'] as { template: { spec: { containers: ContainerSpec[] } } };
  const c = spec.template.spec.containers[0];
  assert.ok(c, 'the DaemonSet has a container');
  return c;
}

interface Rendered {
  daemonSet: Obj;
  configMap: Obj;
}

function render(): Rendered {
  const text = execFileSync('kubectl', ['kustomize', join(repoRoot, 'deploy', 'kustomize', 'base')], {
    encoding: 'utf8',
  });
  const docs = parseAllDocuments(text).map((d) => d.toJS() as Obj);
  const daemonSet = docs.find((d) => d['kind'] === 'DaemonSet');
  const configMap = docs.find((d) => d['kind'] === 'ConfigMap');
  assert.ok(daemonSet && configMap, 'the base renders a DaemonSet and a ConfigMap');
  return { daemonSet, configMap };
}

/** The host side of a pod: the ConfigMap's keys as files and a kubelet seccomp directory with our profile. */
function hostFor(r: Rendered, dir: string, daemonSet = r.daemonSet): PodRun {
  const cmDir = join(dir, 'configmap');
  mkdirSync(cmDir, { recursive: true });
  for (const [k, v] of Object.entries(r.configMap['data'] as Record<string, string>))
    writeFileSync(join(cmDir, k), v);
  const seccompRoot = join(dir, 'seccomp');
  const seccomp = containerOf(daemonSet).securityContext?.seccompProfile;
  if (seccomp?.type === 'Localhost') {
    const target = join(seccompRoot, String(seccomp.localhostProfile));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(SECCOMP_PROFILE, target);
  }
  return podRun(daemonSet, {
    image: ref,
    configMaps: { [(r.configMap['metadata'] as { name: string }).name]: cmDir },
    seccompRoot,
    fieldRefs: { 'spec.nodeName': 'proof-node' },
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function runFlags(name: string, port: number): string[] {
  return [
    '--name',
    name,
    '--network',
    'host',
    ...HOST_RUN_FLAGS,
    '--env',
    `EBPF_COLLECTOR_LISTEN=127.0.0.1:${port}`,
  ];
}

/** The container's JSON log lines (stdout and stderr). */
function logLines(name: string): Obj[] {
  const r = podmanRun(['logs', name]);
  return `${r.stdout}\n${r.stderr}`
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Obj;
      } catch {
        return {};
      }
    });
}

function logsText(name: string): string {
  const r = podmanRun(['logs', name]);
  return `${r.stdout}\n${r.stderr}`;
}

function state(name: string): { running: boolean; pid: number; exitCode: number } {
  const [info] = JSON.parse(podman(['inspect', name])) as {
    State: { Running: boolean; Pid: number; ExitCode: number };
  }[];
  assert.ok(info);
  return { running: info.State.Running, pid: info.State.Pid, exitCode: info.State.ExitCode };
}

async function poll<T>(
  what: string,
  boundMs: number,
  stepMs: number,
  f: () => T | undefined | Promise<T | undefined>,
): Promise<T> {
  const until = Date.now() + boundMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`${what}: not within ${boundMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Ids of the BPF programs a process holds (fdinfo of its program and link fds). */
function heldProgramIds(pid: number): number[] {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const m = /^prog_id:\s*(\d+)$/m.exec(info);
    if (m) ids.add(Number(m[1]));
  }
  return [...ids].sort((a, b) => a - b);
}

function loadedIds(): Set<number> {
  const progs = JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8' })) as {
    id: number;
  }[];
  return new Set(progs.map((p) => p.id));
}

const sum = (text: string, metric: string): number => samples(text, metric).reduce((a, s) => a + s.value, 0);

test(
  'the image runs as the DaemonSet says: the init as PID 1, every program attached, live /metrics, only the reported capabilities, podman stop → exit 0 and every program released',
  { skip },
  async (t) => {
    const r = render();
    assert.equal(
      containerOf(r.daemonSet).image,
      `ebpf-collector:${IMAGE_VERSION}`,
      'the DaemonSet names this version of the image',
    );
    const dir = mkdtempSync(join(tmpdir(), 'podman-proof-'));
    const name = `ebpf-collector-proof-${process.pid}`;
    podmanRun(['rm', '--force', name]);
    try {
      const run = hostFor(r, dir);
      const port = await freePort();
      podman(['run', '--detach', ...runFlags(name, port), ...run.flags, run.image, ...run.args]);

      const started = await poll('the agent\'s "agent started" line', START_BOUND_MS, 250, () => {
        const line = logLines(name).find((l) => l['msg'] === 'agent started');
        if (line) return line;
        if (!state(name).running)
          throw new Error(`the container ended before the agent started:\n${logsText(name)}`);
        return undefined;
      });
      const { pid: init } = state(name);

      // PID 1 of the container's PID namespace is the init (the entrypoint, no npm, no shell),
      // holding no capability; the agent is its only child.
      const nspid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${init}/status`, 'utf8'))?.[1]?.split(/\s+/);
      assert.equal(nspid?.[nspid.length - 1], '1', `NSpid ${nspid?.join(' ')}`);
      const cmdlineOf = (p: number): string[] =>
        readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean);
      assert.deepEqual(cmdlineOf(init), [...ENTRYPOINT, ...run.args]);
      assert.deepEqual(
        threadCapabilities(init).map((th) => [...namesOf(th.effective), ...namesOf(th.permitted)]),
        [[]],
        'the init keeps no capability',
      );
      const children = readFileSync(`/proc/${init}/task/${init}/children`, 'utf8').trim().split(/\s+/);
      assert.equal(children.length, 1, `children of the init: ${children.join(' ')}`);
      const pid = Number(children[0]);
      assert.deepEqual(cmdlineOf(pid), [...ENTRYPOINT.slice(1), ...run.args]);
      // The securityContext as the kernel sees it: a seccomp filter, no new privileges, a read-only root.
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      assert.match(status, /^Seccomp:\s+2$/m, 'a seccomp filter (the Localhost profile) is in force');
      assert.match(status, /^NoNewPrivs:\s+1$/m);
      const root = readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
        .split('\n')
        .find((l) => l.split(' ')[4] === '/');
      assert.match(root?.split(' ')[5] ?? '', /^ro(,|$)/, `root mount: ${root}`);

      // Every program of the config attached (both are of the tracepoint family: this kernel supports them).
      const config = parseYaml(readFileSync(join(dir, 'configmap', 'config.yaml'), 'utf8')) as Obj;
      const wanted = Object.keys(config['receivers'] as Obj).sort();
      const receivers = started['receivers'] as { id: string; attached: string[] }[];
      assert.deepEqual(receivers.map((x) => x.id).sort(), wanted);
      for (const x of receivers) assert.ok(x.attached.length > 0, `${x.id} attached: ${JSON.stringify(x)}`);
      const ids = heldProgramIds(pid);
      assert.ok(ids.length >= wanted.length, `programs held by the agent: ${ids.join(', ')}`);
      const loaded = loadedIds();
      assert.deepEqual(
        ids.filter((id) => !loaded.has(id)),
        [],
        'bpftool lists every program the agent holds',
      );

      // Health, readiness, and counters that grow between two scrapes.
      assert.equal((await httpGet(port, '/healthz')).status, 200);
      assert.equal((await httpGet(port, '/readyz')).status, 200);
      const metric = 'ebpf_exporter_timer_starts_total';
      const first = await httpGet(port, '/metrics');
      assert.equal(first.status, 200);
      const a = sum(first.body, metric);
      assert.ok(samples(first.body, metric).length > 0, `no ${metric}:\n${first.body.slice(0, 2000)}`);
      const b = await poll(`${metric} growing past ${a}`, 30_000, 500, async () => {
        const v = sum((await httpGet(port, '/metrics')).body, metric);
        return v > a ? v : undefined;
      });
      t.diagnostic(`${metric}: ${a} → ${b}`);

      // The agent's threads hold only the capabilities it reports keeping, and those only from the DaemonSet's list.
      const dropped = await poll('the agent\'s "capabilities dropped" line', 30_000, 250, () =>
        logLines(name).find(
          (l) => typeof l['msg'] === 'string' && l['msg'].startsWith('capabilities dropped on every thread'),
        ),
      );
      const kept = dropped['kept'] as string[];
      const granted = addedCapabilities(r.daemonSet);
      assert.deepEqual(
        kept.filter((c) => !granted.includes(c)),
        [],
        `kept ${kept.join(', ')} ⊆ granted ${granted.join(', ')}`,
      );
      const threads = threadCapabilities(pid);
      assert.ok(threads.length > 1, 'Node runs several threads');
      for (const th of threads) {
        assert.deepEqual(
          { thread: th.name, effective: namesOf(th.effective), permitted: namesOf(th.permitted) },
          { thread: th.name, effective: namesOf(maskOf(kept)), permitted: namesOf(maskOf(kept)) },
        );
      }
      t.diagnostic(`${threads.length} threads, each holding exactly: ${kept.join(', ') || 'none'}`);

      // podman stop (SIGTERM to PID 1, SIGKILL after the grace period): exit 0, every program released.
      podman(['stop', '--time', String(run.stopTimeout), name]);
      assert.equal(state(name).exitCode, 0, logsText(name));
      await poll(`programs ${ids.join(', ')} released`, RELEASE_BOUND_MS, 50, () => {
        const now = loadedIds();
        return ids.every((id) => !now.has(id)) ? true : undefined;
      });
    } finally {
      podmanRun(['rm', '--force', name]);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'with one needed capability removed from the DaemonSet, the agent names it and the program that needs it, and exits non-zero',
  { skip },
  async () => {
    const r = render();
    const granted = addedCapabilities(r.daemonSet);
    assert.ok(granted.includes('PERFMON'), `the DaemonSet grants PERFMON: ${granted.join(', ')}`);
    const reduced = structuredClone(r.daemonSet);
    const caps = containerOf(reduced).securityContext?.capabilities;
    assert.ok(caps?.add);
    caps.add = caps.add.filter((c) => c !== 'PERFMON');
    const dir = mkdtempSync(join(tmpdir(), 'podman-proof-'));
    const name = `ebpf-collector-nocap-${process.pid}`;
    podmanRun(['rm', '--force', name]);
    try {
      const run = hostFor(r, dir, reduced);
      const port = await freePort();
      podman(['run', '--detach', ...runFlags(name, port), ...run.flags, run.image, ...run.args]);
      await poll('the container to end', START_BOUND_MS, 250, () => (state(name).running ? undefined : true));
      const out = logsText(name);
      const code = state(name).exitCode;
      assert.notEqual(code, 0, out);
      assert.match(out, /ERR_CAPS_MISSING/);
      assert.match(out, /CAP_PERFMON \(needed by [^)]*timers/, out);
    } finally {
      podmanRun(['rm', '--force', name]);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
