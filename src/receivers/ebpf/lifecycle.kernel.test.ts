import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { ebpfReceiverFactory } from './factory.ts';
import { configSchema } from './config.ts';
import { syscallGetpgid } from '../../native/index.ts';
import { testHost } from '../../../test/helpers/host.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const logger = pino({ level: 'silent' });
const host = testHost();

/** Open file descriptors of this process that point at BPF objects (programs, maps, links) or epoll. */
function bpfFds(): string[] {
  const dir = '/proc/self/fd';
  const out: string[] = [];
  for (const fd of readdirSync(dir)) {
    try {
      const target = readlinkSync(join(dir, fd));
      if (/^anon_inode:(bpf|\[eventpoll\]|\[perf_event\])/.test(target)) out.push(`${fd}→${target}`);
    } catch {
      // closed while listing
    }
  }
  return out.sort();
}

async function receiver(raw: Record<string, unknown>) {
  return ebpfReceiverFactory.create({ id: 'ebpf/fds', logger, configDir: root }, configSchema.parse(raw));
}

test('start then shutdown releases every BPF fd (programs, maps, links)', async () => {
  const before = bpfFds();
  const r = await receiver({ program: 'timers' });
  await r.start(host);
  assert.ok(bpfFds().length > before.length, 'the running receiver holds BPF fds');
  await r.shutdown();
  assert.deepEqual(bpfFds(), before);
});

test('a failed start (hook fallback with rejected sets, then a layout error) leaves no fd behind', async () => {
  const before = bpfFds();
  const r = await receiver({
    program: join(root, 'build', 'bpf', 'hook_chain.bpf.o'),
    metrics: {
      counters: [
        {
          name: 'getppid_calls_total',
          help: 'h',
          labels: [{ name: 'x', size: 8, decoders: [{ name: 'uint' }] }],
        },
      ],
    },
  });
  await assert.rejects(r.start(host), { code: 'ERR_EBPF_LAYOUT' });
  assert.deepEqual(bpfFds(), before);
});

/** Mappings of BPF maps in this process (a ring buffer read in place maps its pages). */
function bpfMappings(): number {
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes('anon_inode:bpf')).length;
}

test('event buffers (a ring read in place, a perf event array) are released on shutdown: fds and ring mappings', async () => {
  const before = bpfFds();
  const mappedBefore = bpfMappings();
  const MARKER = 0x3fffffd0;
  const labels = [{ name: 'pid', size: 4, padding: 4, decoders: [{ name: 'uint' }] }];
  const r = await receiver({
    program: join(root, 'build', 'bpf', 'events_test.bpf.o'),
    poll_interval: '1h',
    globals: { targ_tgid: process.pid, targ_marker: MARKER, targ_mode: 3 },
    events: { drain_interval: '5ms' },
    metrics: {
      counters: [
        { name: 'ring_records_total', help: 'h', events: 'events', labels },
        { name: 'test_events_total', help: 'h', perf_event_array: true, labels },
      ],
    },
  });
  await r.start(host);
  assert.ok(bpfMappings() > mappedBefore, 'the running receiver maps its ring');
  syscallGetpgid(500, MARKER);
  await new Promise((resolve) => setTimeout(resolve, 50)); // the native timers drain
  await r.shutdown();
  await r.shutdown();
  assert.equal(bpfMappings(), mappedBefore, 'ring pages unmapped');
  assert.deepEqual(bpfFds(), before);
});
