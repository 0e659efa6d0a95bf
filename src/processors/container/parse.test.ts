import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseContainerCgroup, type ContainerIdentity } from './parse.ts';

const ID = 'a'.repeat(8) + '0123456789abcdef'.repeat(3) + 'b'.repeat(8);
const UID = '3f2c7a1e-5b6d-4c8e-9f0a-1b2c3d4e5f60';
const UID_ = UID.replaceAll('-', '_');
const M = '/sys/fs/cgroup/unified';

const cases: [string, string, ContainerIdentity | undefined][] = [
  [
    'systemd, burstable, containerd',
    `${M}/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    { containerId: ID, containerRuntime: 'containerd', podUid: UID, podQos: 'burstable' },
  ],
  [
    'systemd, besteffort, cri-o',
    `${M}/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-${ID}.scope`,
    { containerId: ID, containerRuntime: 'cri-o', podUid: UID, podQos: 'besteffort' },
  ],
  [
    'systemd, guaranteed, docker (cri-dockerd)',
    `/sys/fs/cgroup/kubepods.slice/kubepods-pod${UID_}.slice/docker-${ID}.scope`,
    { containerId: ID, containerRuntime: 'docker', podUid: UID, podQos: 'guaranteed' },
  ],
  [
    'systemd, a cgroup inside the container belongs to it',
    `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope/init.scope`,
    { containerId: ID, containerRuntime: 'containerd', podUid: UID, podQos: 'guaranteed' },
  ],
  [
    'systemd, the pod slice alone (pause-less pod cgroup)',
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`,
    { podUid: UID, podQos: 'burstable' },
  ],
  [
    'systemd, cri-o conmon is not a container',
    `/kubepods.slice/kubepods-pod${UID_}.slice/crio-conmon-${ID}.scope`,
    { podUid: UID, podQos: 'guaranteed' },
  ],
  [
    'systemd, plain docker',
    `${M}/system.slice/docker-${ID}.scope`,
    { containerId: ID, containerRuntime: 'docker' },
  ],
  [
    'systemd, podman',
    `/machine.slice/libpod-${ID}.scope/container`,
    { containerId: ID, containerRuntime: 'podman' },
  ],
  ['podman conmon', `/machine.slice/libpod-conmon-${ID}.scope`, undefined],
  [
    'cgroupfs, burstable (runtime not in the path)',
    `${M}/kubepods/burstable/pod${UID}/${ID}`,
    { containerId: ID, podUid: UID, podQos: 'burstable' },
  ],
  [
    'cgroupfs, besteffort',
    `/kubepods/besteffort/pod${UID}/${ID}`,
    { containerId: ID, podUid: UID, podQos: 'besteffort' },
  ],
  [
    'cgroupfs, guaranteed',
    `/kubepods/pod${UID}/${ID}`,
    { containerId: ID, podUid: UID, podQos: 'guaranteed' },
  ],
  [
    'cgroupfs, cri-o names the container crio-<id>',
    `/kubepods/burstable/pod${UID}/crio-${ID}`,
    { containerId: ID, containerRuntime: 'cri-o', podUid: UID, podQos: 'burstable' },
  ],
  ['cgroupfs, docker', `/sys/fs/cgroup/docker/${ID}`, { containerId: ID, containerRuntime: 'docker' }],
  ['cgroupfs, podman', `/libpod_parent/libpod-${ID}`, { containerId: ID, containerRuntime: 'podman' }],
  [
    'upper-case uid with _ is normalised',
    `/kubepods.slice/kubepods-pod${UID_.toUpperCase()}.slice`,
    { podUid: UID, podQos: 'guaranteed' },
  ],
  [
    'static pod: a 32-hex uid without dashes is kept as it is',
    `/kubepods/pod${'c'.repeat(32)}/${ID}`,
    { containerId: ID, podUid: 'c'.repeat(32), podQos: 'guaranteed' },
  ],
  ['qos slices alone are no pod', '/kubepods.slice/kubepods-burstable.slice', undefined],
  ['cgroupfs pod outside kubepods is not a pod', `/elsewhere/pod${UID}/${ID}`, undefined],
  ['a bare id not below a pod or docker is nothing', `/system.slice/${ID}`, undefined],
  ['a short id is nothing', '/system.slice/docker-abc123.scope', undefined],
  ['a service', '/sys/fs/cgroup/system.slice/ssh.service', undefined],
  ['the root', '/sys/fs/cgroup/unified', undefined],
  ['an unknown cgroup id', 'unknown_cgroup_id:42', undefined],
  ['empty', '', undefined],
];

for (const [name, path, want] of cases) {
  test(`parseContainerCgroup: ${name}`, () => {
    assert.deepEqual(parseContainerCgroup(path), want);
  });
}
