import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { drainTimer } from './index.ts';

test('an idle buffer is drained at doubling intervals up to 250 ms; records bring back the base period', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const at: number[] = [];
    let now = 0;
    let pending = 0;
    const timer = drainTimer(50, () => {
      at.push(now);
      const n = pending;
      pending = 0;
      return n;
    });
    const advance = (ms: number): void => {
      for (let i = 0; i < ms; i++) {
        now++;
        mock.timers.tick(1);
      }
    };
    advance(1000);
    assert.deepEqual(
      at.slice(0, 6),
      [50, 150, 350, 600, 850, 1100].filter((t) => t <= 1000),
    );
    pending = 5; // records arrive: the next drain finds them, then the period is 50 ms again
    const drainsBefore = at.length;
    advance(300);
    const after = at.slice(drainsBefore);
    assert.equal(after[1]! - after[0]!, 50, `back to the base period: ${after.join(',')}`);
    timer?.stop();
    const stoppedAt = at.length;
    advance(1000);
    assert.equal(at.length, stoppedAt, 'no drains after stop');
  } finally {
    mock.timers.reset();
  }
});

test('a drain that stops its own timer (a handler closed the buffer) schedules nothing more', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    let drains = 0;
    const timer = drainTimer(10, () => {
      drains++;
      timer?.stop();
      return 1;
    });
    mock.timers.tick(10);
    mock.timers.tick(1000);
    assert.equal(drains, 1);
  } finally {
    mock.timers.reset();
  }
});

test('0 means no timer', () => {
  assert.equal(
    drainTimer(0, () => 0),
    undefined,
  );
});
