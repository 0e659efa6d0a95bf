import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addedCapabilities, cpuCores, memoryBytes, podRun } from '../../deploy/image/pod-to-podman.ts';

const seccompRoot = mkdtempSync(join(tmpdir(), 'seccomp-'));
mkdirSync(join(seccompRoot, 'profiles'));
writeFileSync(join(seccompRoot, 'profiles', 'p.json'), '{"defaultAction":"SCMP_ACT_ERRNO"}');
test.after(() => rmSync(seccompRoot, { recursive: true, force: true }));

const options = {
  image: 'localhost/x:1',
  configMaps: { cfg: '/tmp/cfg-dir' },
  seccompRoot,
  fieldRefs: { 'spec.nodeName': 'node-1' },
};

function daemonSet(pod: Record<string, unknown>, container: Record<string, unknown>) {
  return {
    kind: 'DaemonSet',
    spec: { template: { spec: { containers: [{ name: 'c', image: 'x', ...container }], ...pod } } },
  };
}

test('pod → podman: securityContext, volumes, hostPID, env, limits, args, grace period', () => {
  const ds = daemonSet(
    {
      hostPID: true,
      terminationGracePeriodSeconds: 12,
      tolerations: [{ operator: 'Exists' }],
      volumes: [
        { name: 'cfg', configMap: { name: 'cfg' } },
        { name: 'btf', hostPath: { path: '/sys/kernel/btf', type: 'Directory' } },
        { name: 'scratch', emptyDir: {} },
      ],
    },
    {
      args: ['run', '--config', '/etc/c/config.yaml'],
      env: [
        { name: 'A', value: 'b' },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      ],
      resources: { limits: { memory: '320Mi', cpu: '500m' }, requests: { cpu: '50m' } },
      securityContext: {
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'], add: ['BPF', 'PERFMON'] },
        readOnlyRootFilesystem: true,
        runAsUser: 0,
        seccompProfile: { type: 'Localhost', localhostProfile: 'profiles/p.json' },
      },
      volumeMounts: [
        { name: 'cfg', mountPath: '/etc/c' },
        { name: 'btf', mountPath: '/sys/kernel/btf', readOnly: true },
        { name: 'scratch', mountPath: '/scratch' },
      ],
      ports: [{ containerPort: 9435 }],
      livenessProbe: { httpGet: { path: '/healthz', port: 9435 } },
    },
  );
  const run = podRun(ds, options);
  assert.deepEqual(run.flags, [
    '--pid',
    'host',
    '--cap-drop',
    'ALL',
    '--cap-add',
    'BPF',
    '--cap-add',
    'PERFMON',
    '--read-only',
    '--read-only-tmpfs=false',
    '--security-opt',
    'no-new-privileges',
    '--user',
    '0',
    '--security-opt',
    `seccomp=${join(seccompRoot, 'profiles/p.json')}`,
    '--volume',
    '/tmp/cfg-dir:/etc/c:ro',
    '--volume',
    '/sys/kernel/btf:/sys/kernel/btf:ro',
    '--tmpfs',
    '/scratch',
    '--env',
    'A=b',
    '--env',
    'NODE=node-1',
    '--memory',
    String(320 * 2 ** 20),
    '--cpus',
    '0.5',
    '--stop-timeout',
    '12',
  ]);
  assert.deepEqual(run.args, ['run', '--config', '/etc/c/config.yaml']);
  assert.equal(run.image, 'localhost/x:1');
  assert.equal(run.stopTimeout, 12);
  assert.deepEqual(addedCapabilities(ds), ['BPF', 'PERFMON']);
});

test('pod → podman: what is not translated is an error, never dropped', () => {
  const bad: [Record<string, unknown>, Record<string, unknown>, RegExp][] = [
    [{}, { securityContext: { seLinuxOptions: {} } }, /securityContext\.seLinuxOptions: not translated/],
    [{ shareProcessNamespace: true }, {}, /spec\.template\.spec\.shareProcessNamespace: not translated/],
    [{}, { lifecycle: {} }, /containers\[c\]\.lifecycle: not translated/],
    [
      {},
      { securityContext: { runAsNonRoot: true, runAsUser: 0 } },
      /runAsNonRoot: true, but the user is root/,
    ],
    [
      {},
      { securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'nope.json' } } },
      /nope\.json does not exist/,
    ],
    [
      { volumes: [{ name: 'v', secret: {} }] },
      { volumeMounts: [{ name: 'v', mountPath: '/v' }] },
      /only hostPath, configMap and emptyDir/,
    ],
    [{}, { volumeMounts: [{ name: 'v', mountPath: '/v' }] }, /no volume named v/],
    [{}, { env: [{ name: 'P', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] }, /env\[0\] \(P\)/],
    [
      { volumes: [{ name: 'h', hostPath: { path: '/no/such/dir', type: 'Directory' } }] },
      { volumeMounts: [{ name: 'h', mountPath: '/h' }] },
      /not a directory on this host/,
    ],
  ];
  for (const [pod, container, re] of bad) assert.throws(() => podRun(daemonSet(pod, container), options), re);
});

test('pod → podman: quantities', () => {
  assert.equal(memoryBytes('320Mi'), 335544320);
  assert.equal(memoryBytes('1G'), 1e9);
  assert.equal(memoryBytes('1024'), 1024);
  assert.throws(() => memoryBytes('1 GB'), /not understood/);
  assert.equal(cpuCores('250m'), 0.25);
  assert.equal(cpuCores('2'), 2);
});
