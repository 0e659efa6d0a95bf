import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet, repoRoot, startAgent } from '../helpers/agent.ts';
import { countColour, decodePng } from '../helpers/png.ts';

/**
 * /status in a real browser: Debian's Chromium, headless, loads the live agent's page (with
 * its strict CSP), and its screenshot and DOM are checked. A receiver with a hostile id
 * shows that nothing from the config becomes markup.
 */
const CHROMIUM = '/usr/bin/chromium';
const HOSTILE = `ebpf/<script>alert(1)</script>&'"`;
const WIDTH = 1280;
const HEIGHT = 1800;

function chromium(dir: string, args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--enable-logging=stderr',
      `--user-data-dir=${mkdtempSync(join(dir, 'profile-'))}`,
      `--window-size=${WIDTH},${HEIGHT}`,
      ...args,
    ],
    { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 * 1024 * 1024 },
  );
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

test(
  'status page: JSON and HTML from a live agent, rendered by headless Chromium under its CSP',
  { skip: !existsSync(CHROMIUM) && 'chromium is not installed (scripts/setup.sh --test)' },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'status-e2e-'));
    const overlay = join(dir, 'hostile.yaml');
    writeFileSync(
      overlay,
      `receivers:
  ${JSON.stringify(HOSTILE)}:
    program: raw-tracepoints
service:
  pipelines:
    metrics/hostile:
      receivers: [${JSON.stringify(HOSTILE)}]
      exporters: [prometheus]
`,
    );
    const agent = await startAgent([join(repoRoot, 'pipelines', 'timers.yaml'), overlay]);
    try {
      await httpGet(agent.port, '/metrics'); // a scrape, for its time on the page
      const json = await httpGet(agent.port, '/status', { accept: 'application/json' });
      assert.equal(json.status, 200);
      const s = JSON.parse(json.body) as {
        service: { ready: boolean; phase: string };
        pipelines: { id: string; receivers: string[] }[];
        programs: { receiver: string; program: string; hook: string; attached: string[] }[];
        maps: { config: string; map: string; capacity: number | null }[];
        components: { id: string; kind: string; details: Record<string, unknown> }[];
      };
      assert.equal(s.service.phase, 'running');
      assert.deepEqual(s.pipelines.map((p) => p.id).sort(), ['metrics', 'metrics/hostile']);
      const timers = s.programs.find((p) => p.program === 'timers');
      assert.ok(timers && timers.hook !== 'none' && timers.attached.length > 0, json.body);
      assert.ok(
        s.programs.some((p) => p.program === 'raw-tracepoints' && p.hook !== 'none'),
        json.body,
      );
      assert.ok(
        s.maps.some((m) => m.config === 'timers' && (m.capacity ?? 0) > 0),
        'map capacity',
      );
      const prom = s.components.find((c) => c.id === 'prometheus');
      assert.match(String(prom?.details['last_scrape']), /^\d{4}-\d\d-\d\dT/, 'last scrape time');

      const url = `http://127.0.0.1:${agent.port}/status`;
      const shot = join(dir, 'status.png');
      const run = chromium(dir, [`--screenshot=${shot}`, url]);
      assert.ok(existsSync(shot), `no screenshot (exit ${run.status}):\n${run.stderr}`);
      // The page's stylesheet is allowed by its hash: Chromium reports no CSP refusal.
      assert.doesNotMatch(run.stderr, /Content Security Policy|Refused to/);

      const img = decodePng(readFileSync(shot));
      assert.deepEqual([img.width, img.height], [WIDTH, HEIGHT]);
      const total = img.width * img.height;
      const white = countColour(img, '#ffffff', 0);
      assert.ok(
        white < total * 0.97 && white > total * 0.3,
        `non-trivial content: ${white} of ${total} white`,
      );
      // Styled, so the stylesheet applied: the header's "ready" in its green, table headers in grey.
      assert.ok(countColour(img, '#116329') > 200, 'green "ready" text rendered with the page’s CSS');
      assert.ok(countColour(img, '#f6f8fa', 0) > 5_000, 'table header background rendered');

      const dom = chromium(dir, ['--dump-dom', url]);
      assert.equal(dom.status, 0, dom.stderr);
      assert.match(dom.stdout, /<title>ebpf-collector status<\/title>/);
      assert.ok(dom.stdout.includes(`<code>${timers.hook}</code>`), `hook ${timers.hook} in the DOM`);
      for (const section of timers.attached) assert.ok(dom.stdout.includes(section), `${section} in the DOM`);
      assert.ok(dom.stdout.includes('<code>timers</code>'), 'program name in the DOM');
      // The hostile id is text, never markup: exactly one script-free DOM, the id escaped.
      assert.doesNotMatch(dom.stdout, /<script/i);
      assert.ok(
        dom.stdout.includes('ebpf/&lt;script&gt;alert(1)&lt;/script&gt;&amp;\'"'),
        'hostile id shown as text',
      );

      // A bad config pushed through the reload path: the page says so, the old pipelines run on.
      writeFileSync(overlay, 'receivers:\n  ebpf/timers:\n    poll_interval: fast\n');
      agent.child.kill('SIGHUP');
      let reload: { last_successful: boolean | null } = { last_successful: null };
      for (let i = 0; i < 100 && reload.last_successful !== false; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const now = await httpGet(agent.port, '/status', { accept: 'application/json' });
        reload = (JSON.parse(now.body) as { reload: typeof reload }).reload;
      }
      assert.equal(reload.last_successful, false, 'the failed reload is on the status page');
      const after = chromium(dir, ['--dump-dom', url]);
      assert.match(after.stdout, /last reload failed<\/span>: the previous config keeps running/);
      assert.ok(after.stdout.includes(`<code>${timers.hook}</code>`), 'the old pipelines still shown');
    } finally {
      assert.equal(await agent.stop(), 0);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
