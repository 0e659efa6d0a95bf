import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { get } from 'node:http';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { MetricsServer } from '../exporters/prometheus/server.ts';
import type { AgentHealth } from '../pipeline/component.ts';
import { SelfTelemetry } from '../pipeline/telemetry.ts';
import { escapeHtml, STATUS_CSP, statusHtml } from './html.ts';
import { wantsJson } from '../pipeline/health-body.ts';
import { agentStatus, type AgentStatus } from './model.ts';

const HOSTILE = `<script>alert("x")</script>&'`;

function health(): AgentHealth {
  return {
    ready: false,
    phase: 'running',
    pipelines: [
      {
        id: 'metrics',
        receivers: ['ebpf/timers', 'ebpf/evil'],
        processors: ['ksym'],
        exporters: ['prometheus'],
      },
    ],
    components: [
      {
        id: 'ebpf/timers',
        kind: 'receiver',
        ready: true,
        problems: [],
        details: {
          program: 'timers',
          optional: false,
          hook: 'tp_btf',
          attached: ['tp_btf/timer_start'],
          rejected: [{ hook: 'fentry', reason: 'attach fentry/x: ENOTSUPP (524)' }],
        },
      },
      { id: 'ebpf/evil', kind: 'receiver', ready: false, problems: [`program ${HOSTILE} not attached`] },
      {
        id: 'prometheus',
        kind: 'exporter',
        ready: true,
        problems: [],
        details: {
          endpoint: 'http://127.0.0.1:1/metrics',
          last_scrape: '2026-12-07T13:00:00.000Z',
          receivers: [{ receiver: 'ebpf/timers', last_collection: 'x' }],
        },
      },
    ],
  };
}

function telemetry(): SelfTelemetry {
  const t = new SelfTelemetry();
  t.level = 'none'; // the page reads every family whatever the level
  t.gauge('map_entries', '').set({ config: 'timers', map: 'timer_starts_total' }, 256);
  t.gauge('map_capacity', '').set({ config: 'timers', map: 'timer_starts_total' }, 1024);
  t.gauge('map_capacity', '').set({ config: HOSTILE, map: HOSTILE }, 8);
  t.counter('events_received_total', '').add({ config: 'exec', map: 'events' }, 10);
  t.counter('events_dropped_total', '').add({ config: 'exec', map: 'events', reason: 'queue_full' }, 2);
  t.counter('events_kernel_dropped_total', '').add({ config: 'exec', map: 'events', reason: 'reserve' }, 1);
  t.gauge('events_queue_length', '').set({ config: 'exec', map: 'events' }, 3);
  // A receiver without program details: its programs come from the self-metrics.
  t.gauge('program_attached', '').set(
    { config: 'evil', program: HOSTILE, hook: 'kprobe', reason: 'EINVAL' },
    0,
  );
  t.gauge('program_attached', '').set(
    { config: 'evil', program: 'ok_prog', hook: 'kprobe', reason: 'ok' },
    1,
  );
  t.gauge('program_hook_rejected', '').set(
    { config: 'evil', program: 'p', hook: 'fentry', reason: 'ENOTSUPP' },
    1,
  );
  t.gauge('config_last_reload_successful', '').set({}, 0);
  t.gauge('config_last_reload_success_timestamp_seconds', '').set({}, 1_765_112_400);
  return t;
}

function model(): AgentStatus {
  return agentStatus({
    health: health(),
    telemetry: telemetry(),
    startedAtMs: 1_765_112_000_000,
    nowMs: 1_765_112_060_000,
  });
}

describe('status model', () => {
  it('joins health details and self-metrics: programs, maps, events, reload', () => {
    const s = model();
    assert.equal(s.service.phase, 'running');
    assert.equal(s.service.ready, false);
    assert.equal(s.service.uptime_seconds, 60);
    assert.deepEqual(s.pipelines[0]?.receivers, ['ebpf/timers', 'ebpf/evil']);
    assert.deepEqual(s.programs[0], {
      receiver: 'ebpf/timers',
      program: 'timers',
      hook: 'tp_btf',
      ready: true,
      optional: false,
      attached: ['tp_btf/timer_start'],
      not_attached: [],
      rejected: [{ hook: 'fentry', reason: 'attach fentry/x: ENOTSUPP (524)' }],
    });
    assert.deepEqual(s.programs[1], {
      receiver: 'ebpf/evil',
      program: 'evil',
      hook: 'kprobe',
      ready: false,
      optional: false,
      attached: ['ok_prog'],
      not_attached: [HOSTILE],
      rejected: [{ hook: 'fentry', reason: 'ENOTSUPP' }],
    });
    assert.deepEqual(
      s.maps.find((m) => m.config === 'timers'),
      { config: 'timers', map: 'timer_starts_total', entries: 256, capacity: 1024, fill: 0.25 },
    );
    assert.deepEqual(s.maps.find((m) => m.config === HOSTILE)?.fill, null, 'no entries read yet');
    assert.deepEqual(s.events, [
      { config: 'exec', map: 'events', received: 10, queued: 3, dropped: 2, kernel_dropped: 1 },
    ]);
    assert.deepEqual(s.reload, { last_successful: false, last_success_at: '2025-12-07T13:00:00.000Z' });
    assert.equal(s.telemetry.level, 'none');
    // JSON-safe: survives a round trip unchanged.
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  });

  it('without reload self-metrics the reload state is unknown', () => {
    const s = agentStatus({ health: health(), telemetry: new SelfTelemetry() });
    assert.deepEqual(s.reload, { last_successful: null, last_success_at: null });
    assert.deepEqual(s.maps, []);
  });
});

describe('status page', () => {
  it('escapes every hostile name: no markup from labels, programs or problems', () => {
    const html = statusHtml(model());
    assert.ok(!html.includes('<script'), 'no script element at all');
    assert.ok(!html.includes(HOSTILE));
    assert.ok(html.includes(escapeHtml(HOSTILE)));
    assert.equal(escapeHtml(HOSTILE), '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;');
    // Attributes are quoted and escaped too (the meter value is a number, still escaped).
    assert.match(
      html,
      /<meter min="0" max="1" low="0.7" high="0.9" optimum="0" value="0.25"><\/meter> 25.0 %/,
    );
  });

  it('shows each section: pipelines, programs with hooks and rejected sets, maps, events, components, reload', () => {
    const html = statusHtml(model());
    for (const id of ['problems', 'pipelines', 'programs', 'maps', 'events', 'components', 'reload'])
      assert.match(html, new RegExp(`<section id="${id}">`));
    assert.match(html, /<code>tp_btf<\/code>/);
    assert.match(html, /<li><code>fentry<\/code>: attach fentry\/x: ENOTSUPP \(524\)<\/li>/);
    assert.match(html, /last reload failed<\/span>: the previous config keeps running/);
    assert.match(html, /<dt>endpoint<\/dt><dd><code>http:\/\/127\.0\.0\.1:1\/metrics<\/code><\/dd>/);
  });

  it('the CSP allows exactly its one stylesheet, by hash; no style attributes, no external URLs', () => {
    const html = statusHtml(model());
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? '';
    const hash = createHash('sha256').update(style).digest('base64');
    assert.ok(STATUS_CSP.includes(`style-src 'sha256-${hash}'`), STATUS_CSP);
    assert.match(STATUS_CSP, /^default-src 'none'/);
    assert.doesNotMatch(html, /\sstyle=|<script|<link|<img|src=|https?:\/\/(?!127\.0\.0\.1:1\/)/);
  });

  it('Accept negotiation: JSON when asked for, the page for a browser', () => {
    assert.equal(wantsJson(undefined), false);
    assert.equal(wantsJson('application/json'), true);
    assert.equal(wantsJson('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'), false);
    assert.equal(wantsJson('application/json, text/html'), true);
    assert.equal(wantsJson('*/*'), false);
  });

  it('served by the agent’s server: HTML with its headers, JSON on request, HEAD without body', async () => {
    const server = new MetricsServer({
      host: '127.0.0.1',
      port: 0,
      metricsPath: '/metrics',
      maxRequests: 1,
      scrape: () => Promise.resolve(''),
      ready: () => true,
      logger: pino({ level: 'silent' }),
      status: model,
    });
    await server.listen();
    const fetch = (method: string, accept?: string) =>
      new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const req = get(
          {
            host: '127.0.0.1',
            port: server.address.port,
            path: '/status',
            method,
            headers: accept ? { accept } : {},
          },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
          },
        );
        req.on('error', reject);
      });
    try {
      const page = await fetch('GET');
      assert.equal(page.status, 200);
      assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(page.headers['content-security-policy'], STATUS_CSP);
      assert.equal(page.headers['x-content-type-options'], 'nosniff');
      assert.equal(page.headers['cache-control'], 'no-store');
      assert.match(page.body, /^<!DOCTYPE html>/);
      const json = await fetch('GET', 'application/json');
      assert.equal(json.headers['content-type'], 'application/json; charset=utf-8');
      assert.deepEqual(JSON.parse(json.body), JSON.parse(JSON.stringify(model())));
      const head = await fetch('HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
    } finally {
      await server.close();
    }
  });
});
