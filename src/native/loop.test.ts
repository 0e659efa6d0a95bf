/**
 * monitorLoopBusy (native/loop.cc): the event loop's longest busy stretch between two waits,
 * with no timer of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { monitorLoopBusy } from './index.ts';
import { nativeAddon } from './addon.ts';
import { runModule } from '../../test/helpers/module-child.ts';

function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // a synchronous block of the event loop
  }
}

test('a 300 ms block reads ~300 ms; waiting for a timer is not busy', async () => {
  const m = monitorLoopBusy();
  try {
    await delay(50);
    m.take();
    block(300);
    await delay(20);
    const blocked = m.take();
    assert.ok(blocked >= 290 && blocked < 1000, `after a 300 ms block: ${blocked} ms`);
    await delay(400);
    const idle = m.take();
    assert.ok(idle < 100, `a 400 ms wait: ${idle} ms busy`);
  } finally {
    m.stop();
  }
});

test('overlapping monitors each read their own maximum; a stopped one reads 0', async () => {
  const a = monitorLoopBusy();
  const b = monitorLoopBusy();
  try {
    await delay(20);
    block(200);
    await delay(20);
    assert.ok(a.take() >= 190, 'a saw the block');
    await delay(20);
    assert.ok(b.take() >= 190, 'b saw it too, though a read first');
    assert.ok(a.take() < 100, 'a read it once');
    b.stop();
    block(150);
    await delay(20);
    assert.ok(a.take() >= 140, 'a runs on after b stopped');
    assert.equal(b.take(), 0);
  } finally {
    a.stop();
    b.stop();
  }
});

test('no wake-ups of its own: one pending 1 s timer is one or two loop iterations', async () => {
  const m = monitorLoopBusy();
  try {
    await delay(20);
    nativeAddon().loopBusyTake();
    await delay(1000);
    const { iterations } = nativeAddon().loopBusyTake();
    assert.ok(iterations <= 3, `${iterations} iterations in a quiet second`);
  } finally {
    m.stop();
  }
});

test('a running monitor does not keep the process alive', () => {
  const code = `import { monitorLoopBusy } from ${JSON.stringify(new URL('./index.ts', import.meta.url).href)};
monitorLoopBusy(); setTimeout(() => process.stdout.write('done'), 50);`;
  assert.equal(runModule(code, { timeoutMs: 30_000 }), 'done');
});
