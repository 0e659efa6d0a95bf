/**
 * The attach handlers of native/attach.cc on the real kernel: perf events on
 * every online CPU, XDP on a named interface, the post-attach mark, iterators
 * and test runs. Every test releases what it made (links, fds, veth, netns).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { supportedHooks } from '../../test/helpers/kernel-features.ts';
import { NO_PMU, openObject, postAttachMark, type BpfObject } from './index.ts';
import { OBJ_DIR, u32 } from './kernel-fixtures.ts';

const OBJ = `${OBJ_DIR}attach_handlers.bpf.o`;
const PYTHON = '/usr/bin/python3';

function load(globals: Record<string, number> = {}): BpfObject {
  const spec = openObject(OBJ);
  for (const [k, v] of Object.entries(globals)) spec.setGlobal(k, v);
  return spec.load();
}

function u64At(obj: BpfObject, map: string, key: number): number {
  const v = obj.map(map).lookup(u32(key));
  assert.ok(v, `${map}[${key}] exists`);
  return Number(v.readBigUInt64LE(0));
}

function onlineCpus(): number[] {
  const out: number[] = [];
  for (const part of readFileSync('/sys/devices/system/cpu/online', 'utf8').trim().split(',')) {
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    for (let c = a; c <= (b ?? a); c++) out.push(c);
  }
  return out;
}

/** A busy loop of `seconds` pinned on each CPU in turn (a python3 child). */
function busyOnEach(cpus: readonly number[], seconds: number): void {
  execFileSync(PYTHON, [
    '-c',
    `import os, time
for cpu in ${JSON.stringify(cpus)}:
    os.sched_setaffinity(0, {cpu})
    end = time.monotonic() + ${seconds}
    while time.monotonic() < end: pass`,
  ]);
}

/**
 * Open fds of this process on BPF objects and perf events (other fds come and go with Node's own
 * work: Node 24.21 reads the system CA file in the background at start).
 */
const openFds = (): number =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return /^anon_inode:(bpf|\[perf_event\])/.test(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      return false; // closed while listing
    }
  }).length;

describe('perf_event/type=…,config=…,frequency=…', () => {
  it('a software cpu-clock event samples on every online CPU; detach releases every fd', () => {
    const fds = openFds();
    const obj = load();
    try {
      const [r] = obj.attach(['perf_cpu_clock']);
      assert.equal(r?.attached, true, r?.error);
      const cpus = onlineCpus();
      // 150 ms of busy loop pinned on each CPU in turn: 1000 Hz gives ~150 samples per CPU.
      busyOnEach(cpus, 0.15);
      for (const cpu of cpus) {
        assert.ok(u64At(obj, 'samples_by_cpu', cpu) > 0, `samples on CPU ${cpu}`);
      }
      obj.detach('perf_cpu_clock');
      const frozen = cpus.map((c) => u64At(obj, 'samples_by_cpu', c));
      execFileSync(PYTHON, [
        '-c',
        'import time\nend = time.monotonic() + 0.05\nwhile time.monotonic() < end: pass',
      ]);
      assert.deepEqual(
        cpus.map((c) => u64At(obj, 'samples_by_cpu', c)),
        frozen,
        'no samples after detach',
      );
    } finally {
      obj.close();
    }
    assert.equal(openFds(), fds, 'every perf event fd and link closed');
  });

  it('period= instead of frequency=: samples on every online CPU', () => {
    const obj = load();
    try {
      const [r] = obj.attach(['perf_cpu_clock_period']);
      assert.equal(r?.attached, true, r?.error);
      const cpus = onlineCpus();
      busyOnEach(cpus, 0.05);
      for (const cpu of cpus) {
        assert.ok(u64At(obj, 'period_samples_by_cpu', cpu) > 0, `samples on CPU ${cpu}`);
      }
    } finally {
      obj.close();
    }
  });

  it(`a hardware event fails with "${NO_PMU}" where the kernel has no PMU, and leaves no fd`, () => {
    const fds = openFds();
    const obj = load();
    try {
      const [r] = obj.attach(['perf_hw_cycles']);
      if (supportedHooks().has('perf_event_hw')) {
        assert.equal(r?.attached, true, r?.error);
      } else {
        assert.equal(r?.attached, false);
        assert.match(
          r?.error ?? '',
          /^no hardware PMU \(virtualised\?\): ENOENT \(no such file or directory\): perf_event_open on CPU 0$/,
        );
      }
    } finally {
      obj.close();
    }
    assert.equal(openFds(), fds);
  });

  it('an unknown key in the section is refused with the key named', () => {
    const obj = load();
    try {
      const [r] = obj.attach(['perf_bad_key']);
      assert.equal(r?.attached, false);
      assert.equal(r?.errno, 'EINVAL');
      assert.match(r?.error ?? '', /unknown key "colour" \(expected type, config, frequency or period\)/);
    } finally {
      obj.close();
    }
  });
});

describe('xdp/<ifname>', () => {
  const ns = `ectestxdp${process.pid}`;
  const host = 'ectestxdp0'; // the name in the program's section
  const peer = 'ectestxdp1';
  const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

  before(() => {
    ip('netns', 'add', ns);
    ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
    ip('link', 'set', peer, 'netns', ns);
    ip('link', 'set', host, 'up');
    ip('-n', ns, 'addr', 'add', '10.231.7.2/24', 'dev', peer);
    ip('-n', ns, 'link', 'set', peer, 'up');
    // The host end has no address: a static neighbour lets the peer send without ARP.
    const mac = readFileSync(`/sys/class/net/${host}/address`, 'utf8').trim();
    ip('-n', ns, 'neigh', 'add', '10.231.7.1', 'lladdr', mac, 'dev', peer, 'nud', 'permanent');
  });

  after(() => {
    try {
      ip('link', 'del', host);
    } catch {
      // already gone with the netns
    }
    ip('netns', 'del', ns);
  });

  it('counts exactly the UDP packets sent to the interface, and detaches on close', () => {
    const port = 40_000 + (process.pid % 20_000);
    const send = (n: number): void => {
      execFileSync('ip', [
        'netns',
        'exec',
        ns,
        PYTHON,
        '-c',
        `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(${n}): s.sendto(b'x' * 20, ('10.231.7.1', ${port}))`,
      ]);
    };
    const obj = load({ targ_udp_port: port });
    try {
      const [r] = obj.attach(['xdp_count_udp']);
      assert.equal(r?.attached, true, r?.error);
      assert.match(ip('link', 'show', host), /prog\/xdp id \d+/);
      send(25);
      assert.equal(u64At(obj, 'xdp_packets', 0), 25);
      send(7);
      assert.equal(u64At(obj, 'xdp_packets', 0), 32);
    } finally {
      obj.close();
    }
    assert.doesNotMatch(ip('link', 'show', host), /prog\/xdp/, 'detached on close');
  });

  it('a missing interface is a clear attach error', () => {
    const obj = load();
    try {
      const [r] = obj.attach(['xdp_missing_if']);
      assert.equal(r?.attached, false);
      assert.equal(
        r?.error,
        'ENODEV (no such device): no network interface "ec-no-such-if" in this network namespace',
      );
    } finally {
      obj.close();
    }
  });
});

describe('post-attach mark, test runs, iterators', () => {
  it('uprobe//proc/self/exe:post_attach_mark runs once per postAttachMark() of this process', () => {
    const obj = load();
    try {
      const [r] = obj.attach(['post_attach']);
      assert.equal(r?.attached, true, r?.error);
      assert.equal(u64At(obj, 'marks', 0), 0);
      postAttachMark();
      assert.equal(u64At(obj, 'marks', 0), 1);
    } finally {
      obj.close();
    }
  });

  it('SEC("syscall") attaches as nothing and runs once per testRun', () => {
    const obj = load();
    try {
      const [r] = obj.attach(['run_at_collection']);
      assert.equal(r?.attached, true, r?.error);
      assert.equal(u64At(obj, 'marks', 1), 0);
      assert.equal(obj.testRun('run_at_collection').retval, 0);
      obj.testRun('run_at_collection');
      assert.equal(u64At(obj, 'marks', 1), 2);
    } finally {
      obj.close();
    }
  });

  it('iter/bpf_prog: each iterRead is one full pass over the loaded programs', () => {
    const obj = load();
    try {
      assert.throws(() => obj.iterRead('iter_progs'), /not attached/);
      const [r] = obj.attach(['iter_progs']);
      assert.equal(r?.attached, true, r?.error);
      assert.equal(obj.iterRead('iter_progs').length, 0, 'the program prints nothing');
      assert.equal(u64At(obj, 'marks', 2), 1, 'one pass, ended by the NULL call');
      // At least this object's own programs are loaded.
      assert.ok(u64At(obj, 'marks', 3) >= obj.programs().length);
      obj.iterRead('iter_progs');
      assert.equal(u64At(obj, 'marks', 2), 2);
    } finally {
      obj.close();
    }
  });
});
