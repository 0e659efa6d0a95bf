import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, realpathSync, rmSync, existsSync } from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';
import { readMountInfo } from '../../src/kernel/mountinfo.ts';
import { expectedHook } from '../helpers/kernel-features.ts';
import {
  assertHookChoice,
  bucketGrowth,
  histogramPoints,
  pointWith,
  runPython,
  startProgram,
} from '../helpers/program-run.ts';

const PREFERENCE = ['raw_tp', 'tracepoint'];
const BLOCKS = 64;

/**
 * A scratch directory on a block-device filesystem, and that device's whole-disk
 * name; undefined where /tmp and /var/tmp are not on a disk (a kernel-matrix
 * guest: 9p root, tmpfs /tmp).
 */
function scratchOnDisk(): { dir: string; disk: string } | undefined {
  for (const base of ['/tmp', '/var/tmp']) {
    const real = realpathSync(base);
    const mount = readMountInfo()
      .filter(
        (m) => real === m.mountPoint || real.startsWith(m.mountPoint === '/' ? '/' : m.mountPoint + sep),
      )
      .sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0];
    if (!mount || mount.major === 0) continue;
    const sys = realpathSync(`/sys/dev/block/${mount.major}:${mount.minor}`);
    // A partition's sysfs directory sits inside its disk's and has a `partition` file.
    const disk = existsSync(join(sys, 'partition')) ? basename(dirname(sys)) : basename(sys);
    return { dir: mkdtempSync(join(base, 'biolatency-')), disk };
  }
  return undefined;
}

/** BLOCKS O_DIRECT 4 KiB writes, fsync, then BLOCKS O_DIRECT 4 KiB reads of the same file. */
const DIRECT_IO = `
import mmap, os, sys
path, n = sys.argv[1], int(sys.argv[2])
buf = mmap.mmap(-1, 4096)
buf.write(b'b' * 4096)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o600)
for i in range(n):
    assert os.pwrite(fd, buf, i * 4096) == 4096
os.fsync(fd)
os.close(fd)
fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
for i in range(n):
    assert os.preadv(fd, [buf], i * 4096) == 4096
os.close(fd)
`;

for (const hooks of [undefined, ['tracepoint']]) {
  const expected = hooks ? 'tracepoint' : expectedHook(PREFERENCE);
  test(`biolatency via ${expected}: ${BLOCKS} direct 4 KiB writes and reads land in the disk's write and read histograms`, async (t) => {
    const scratch = scratchOnDisk();
    if (!scratch) {
      t.skip('neither /tmp nor /var/tmp is on a block device: no disk to write to');
      return;
    }
    const { dir, disk } = scratch;
    assert.ok(readFileSync('/proc/partitions', 'utf8').includes(` ${disk}\n`), `${disk} is a block device`);
    const run = await startProgram('biolatency', hooks ? { hooks } : {});
    try {
      if (!hooks) assertHookChoice(run, PREFERENCE, expected);
      else assert.equal(run.receiver.hook, 'tracepoint');
      const before = histogramPoints(await run.collect(), 'bio_latency_seconds');
      await runPython(DIRECT_IO, [join(dir, 'data'), String(BLOCKS)]);
      const after = histogramPoints(await run.collect(), 'bio_latency_seconds');
      const devices = [...new Set(after.map((p) => p.labels['device']))];
      for (const operation of ['write', 'read']) {
        const labels = { device: disk, operation };
        const b = pointWith(before, labels);
        const a = pointWith(after, labels);
        assert.ok(a, `a ${operation} series for ${disk}; devices seen: ${devices.join(', ')}`);
        const grown = a.count - (b?.count ?? 0);
        assert.ok(grown >= BLOCKS, `${operation}s on ${disk}: ${grown} < ${BLOCKS}`);
        assert.equal(
          bucketGrowth(b, a).reduce((x, y) => x + y, 0),
          grown,
          'the buckets hold every sample',
        );
        assert.ok(a.sum > (b?.sum ?? 0), `${operation} latency sum grew`);
        // Latencies are real: a 4 KiB request on a VM disk takes more than 1 µs and less than 1 s.
        const growth = bucketGrowth(b, a);
        const slow = growth.slice(a.boundaries.findIndex((le) => le >= 1) + 1).reduce((x, y) => x + y, 0);
        assert.ok(growth[0]! < grown && slow < grown, `plausible latencies: ${JSON.stringify(growth)}`);
      }
    } finally {
      await run.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
