import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { consoleLine, createLogger, type LoggerOptions } from './logger.ts';

function capture(level: Parameters<typeof createLogger>[0], options: LoggerOptions = {}) {
  const lines: string[] = [];
  const log = createLogger(level, { ...options, destination: { write: (s: string) => lines.push(s) } });
  return { log, lines };
}

describe('logger', () => {
  it('json: the level by name, not pino’s number; lines below the level are left out', () => {
    const { log, lines } = capture('info');
    log.debug('hidden');
    log.info({ id: 'ebpf/timers' }, 'attached');
    log.warn('careful');
    log.error('broken');
    const recs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      recs.map((r) => [r['level'], r['msg']]),
      [
        ['info', 'attached'],
        ['warn', 'careful'],
        ['error', 'broken'],
      ],
    );
    assert.equal(recs[0]?.['id'], 'ebpf/timers');
    assert.equal(recs[0]?.['service'], 'ebpf-collector');
    assert.equal(typeof recs[0]?.['time'], 'number');
  });

  it('console: time, level name, message, the other fields as JSON, tab-separated', () => {
    const { log, lines } = capture('debug', { encoding: 'console' });
    log.debug({ id: 'ebpf/timers', hook: 'fentry' }, 'attached');
    assert.equal(lines.length, 1);
    const [time, level, msg, fields, ...rest] = (lines[0] ?? '').replace(/\n$/, '').split('\t');
    assert.match(time ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(level, 'debug');
    assert.equal(msg, 'attached');
    assert.deepEqual(JSON.parse(fields ?? ''), {
      service: 'ebpf-collector',
      id: 'ebpf/timers',
      hook: 'fentry',
    });
    assert.deepEqual(rest, []);
  });

  it('console without timestamps starts with the level; a message’s line breaks stay on one line', () => {
    const { log, lines } = capture('info', { encoding: 'console', timestamps: false });
    log.warn('two\nlines\r\nhere');
    assert.equal(lines[0], 'warn\ttwo\\nlines\\nhere\t{"service":"ebpf-collector"}\n');
  });

  it('console: a line that is not a JSON object passes unchanged', () => {
    assert.equal(consoleLine('not json\n'), 'not json\n');
    assert.equal(consoleLine('[1,2]\n'), '[1,2]\n');
  });
});
