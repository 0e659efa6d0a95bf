import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { SendHealth } from './send-health.ts';

function rig(intervalMs = 60_000): {
  sends: SendHealth;
  lines: { level: number; msg: string; failures?: number }[];
  clock: { t: number };
} {
  const lines: { level: number; msg: string; failures?: number }[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (l: string) => lines.push(JSON.parse(l) as { level: number; msg: string; failures?: number }) },
  );
  const clock = { t: Date.parse('2026-12-07T13:00:00Z') };
  return {
    sends: new SendHealth(logger, 'OTLP metrics export to x:1', intervalMs, () => clock.t),
    lines,
    clock,
  };
}

test('the first failure is one warning with its reason; then one line per interval with the count', () => {
  const { sends, lines, clock } = rig();
  sends.failed('UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:1');
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg]),
    [[40, 'OTLP metrics export to x:1 failing: UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:1']],
  );
  // 59 more failures in the next 59 s: nothing logged.
  for (let i = 0; i < 59; i++) {
    clock.t += 1000;
    sends.failed('UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:1');
  }
  assert.equal(lines.length, 1);
  clock.t += 1000;
  sends.failed('DEADLINE_EXCEEDED');
  assert.equal(lines.length, 2);
  assert.equal(lines[1]?.level, 40);
  assert.equal(lines[1]?.failures, 60);
  assert.match(lines[1]?.msg ?? '', /still failing: 60 failures in the last 60s; last: DEADLINE_EXCEEDED$/);
  assert.match(
    sends.problem() ?? '',
    /^OTLP metrics export to x:1 failing since 2026-12-07T13:00:00.000Z \(61 failed attempts\): DEADLINE_EXCEEDED$/,
  );
});

test('recovery is one info line; a later failure is a first failure again', () => {
  const { sends, lines, clock } = rig();
  sends.succeeded();
  assert.equal(lines.length, 0, 'success while working logs nothing');
  assert.equal(sends.problem(), undefined);
  sends.failed('UNAVAILABLE');
  sends.failed('UNAVAILABLE');
  clock.t += 5000;
  sends.succeeded();
  sends.succeeded();
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg]),
    [
      [40, 'OTLP metrics export to x:1 failing: UNAVAILABLE'],
      [30, 'OTLP metrics export to x:1 recovered after 2 failed attempts'],
    ],
  );
  assert.equal(sends.problem(), undefined);
  assert.deepEqual(sends.details(), { failing: false, successes: 3 });
  sends.failed('UNAVAILABLE: TLS');
  assert.equal(lines.length, 3);
  assert.equal(lines[2]?.msg, 'OTLP metrics export to x:1 failing: UNAVAILABLE: TLS');
  assert.equal(sends.details()['failed_attempts'], 1);
});
