import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { ebpfReceiverFactory } from './factory.ts';
import { configSchema } from './config.ts';
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
