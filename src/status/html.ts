import { createHash } from 'node:crypto';
import type { AgentStatus, ComponentStatus } from './model.ts';

/**
 * The status page: one server-rendered HTML document, self-contained (no script, no
 * external asset, no inline style attribute), so it passes the strict policy it is sent
 * with (`STATUS_CSP`: nothing is allowed but its one stylesheet, by hash). Every value
 * from the config, the kernel or a component is escaped (`escapeHtml`).
 */

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1b1f24;background:#fff}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.6em 0 .4em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.3em 0}th,td{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,monospace}ul{margin:0;padding-left:1.2em}
.ok{color:#116329;font-weight:600}.bad{color:#a40e26;font-weight:600}.warn{color:#7d4e00;font-weight:600}
.muted{color:#57606a}dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:.15em .6em}dt{font-weight:600}dd{margin:0}
meter{width:8em}
`.trim();

/** The Content-Security-Policy header of the page: its stylesheet by hash, nothing else. */
export const STATUS_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Text for an HTML text node or a quoted attribute value. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

const e = escapeHtml;

function table(head: readonly string[], rows: readonly (readonly string[])[], empty: string): string {
  if (rows.length === 0) return `<p class="muted">${e(empty)}</p>`;
  const th = head.map((h) => `<th>${e(h)}</th>`).join('');
  // Cells are HTML made here: every value in them went through e().
  const tr = rows.map((r) => `<tr>${r.join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

const td = (html: string): string => `<td>${html}</td>`;
const num = (v: number | null): string => `<td class="n">${v === null ? '–' : e(formatNumber(v))}</td>`;
const state = (ok: boolean, yes = 'ready', no = 'not ready'): string =>
  `<span class="${ok ? 'ok' : 'bad'}">${e(ok ? yes : no)}</span>`;
const list = (xs: readonly string[]): string =>
  xs.length === 0 ? '<span class="muted">–</span>' : xs.map((x) => `<code>${e(x)}</code>`).join(', ');

function formatNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}

/** A component's `details`: scalars as a definition list, lists of records as tables, the rest as JSON. */
function details(d: Readonly<Record<string, unknown>>): string {
  const keys = Object.keys(d);
  if (keys.length === 0) return '<span class="muted">–</span>';
  const items = keys.map((k) => `<dt>${e(k)}</dt><dd>${value(d[k])}</dd>`);
  return `<dl>${items.join('')}</dl>`;
}

function value(v: unknown): string {
  if (v === null || v === undefined) return '<span class="muted">–</span>';
  if (typeof v === 'number') return `<code>${e(formatNumber(v))}</code>`;
  if (typeof v === 'string' || typeof v === 'boolean') return `<code>${e(v)}</code>`;
  if (Array.isArray(v)) {
    if (v.length === 0) return '<span class="muted">none</span>';
    if (v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x))) {
      const cols = [...new Set(v.flatMap((x) => Object.keys(x as object)))];
      return table(
        cols,
        v.map((x) => cols.map((c) => td(value((x as Record<string, unknown>)[c])))),
        '',
      );
    }
    return `<ul>${v.map((x) => `<li>${value(x)}</li>`).join('')}</ul>`;
  }
  if (typeof v === 'object') return details(v as Record<string, unknown>);
  return `<code>${e(JSON.stringify(v))}</code>`;
}

function problems(c: ComponentStatus): string {
  if (c.problems.length === 0) return '<span class="muted">–</span>';
  return `<ul>${c.problems.map((p) => `<li>${e(p)}</li>`).join('')}</ul>`;
}

export function statusHtml(s: AgentStatus): string {
  const svc = s.service;
  const notReady = s.components.filter((c) => !c.ready);
  const degraded = s.components.filter((c) => c.ready && c.problems.length > 0);
  const summary =
    notReady.length + degraded.length === 0
      ? '<p class="ok">Every component is ready; no problems.</p>'
      : `<ul>${[...notReady, ...degraded]
          .flatMap((c) =>
            (c.problems.length > 0 ? c.problems : ['not ready']).map(
              (p) =>
                `<li><span class="${c.ready ? 'warn' : 'bad'}">${e(c.kind)} <code>${e(c.id)}</code></span>: ${e(p)}</li>`,
            ),
          )
          .join('')}</ul>`;

  const pipelines = table(
    ['pipeline', 'receivers', 'processors', 'exporters'],
    s.pipelines.map((p) => [
      td(`<code>${e(p.id)}</code>`),
      td(list(p.receivers)),
      td(list(p.processors)),
      td(list(p.exporters)),
    ]),
    'No pipelines.',
  );

  const programs = table(
    ['receiver', 'program', 'state', 'hook chosen', 'attached', 'not attached', 'rejected hook sets'],
    s.programs.map((p) => [
      td(`<code>${e(p.receiver)}</code>`),
      td(`<code>${e(p.program)}</code>${p.optional ? ' <span class="muted">(optional)</span>' : ''}`),
      td(state(p.ready)),
      td(`<code>${e(p.hook)}</code>`),
      td(list(p.attached)),
      td(list(p.not_attached)),
      td(
        p.rejected.length === 0
          ? '<span class="muted">–</span>'
          : `<ul>${p.rejected.map((r) => `<li><code>${e(r.hook)}</code>: ${e(r.reason)}</li>`).join('')}</ul>`,
      ),
    ]),
    'No eBPF receivers report programs.',
  );

  const maps = table(
    ['config', 'map', 'entries', 'capacity', 'fill'],
    s.maps.map((m) => [
      td(`<code>${e(m.config)}</code>`),
      td(`<code>${e(m.map)}</code>`),
      num(m.entries),
      num(m.capacity),
      td(
        m.fill === null
          ? '<span class="muted">–</span>'
          : `<meter min="0" max="1" low="0.7" high="0.9" optimum="0" value="${e(m.fill)}"></meter> ${e((m.fill * 100).toFixed(1))} %`,
      ),
    ]),
    'No metric maps read yet.',
  );

  const events = table(
    ['config', 'map', 'received', 'queued', 'dropped (agent)', 'dropped (kernel)'],
    s.events.map((x) => [
      td(`<code>${e(x.config)}</code>`),
      td(`<code>${e(x.map)}</code>`),
      num(x.received),
      num(x.queued),
      num(x.dropped),
      num(x.kernel_dropped),
    ]),
    'No event streams (ring or perf buffers).',
  );

  const components = table(
    ['component', 'kind', 'state', 'problems', 'details'],
    s.components.map((c) => [
      td(`<code>${e(c.id)}</code>`),
      td(e(c.kind)),
      td(state(c.ready)),
      td(problems(c)),
      td(details(c.details)),
    ]),
    'No components.',
  );

  const r = s.reload;
  const reload =
    r.last_successful === null
      ? '<p class="muted">Reloads are not reported (no <code>config_last_reload_*</code> self-metrics).</p>'
      : r.last_successful
        ? `<p>${state(true, 'loaded')}: the running config is the last one loaded (at start or by a reload, SIGHUP or a changed file), at ${e(r.last_success_at ?? '–')}.</p>`
        : `<p>${state(false, '', 'last reload failed')}: the previous config keeps running (the log has the positioned errors); last successful load at ${e(r.last_success_at ?? '–')}.</p>`;

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="15">
<title>ebpf-collector status</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>ebpf-collector ${e(svc.version)} — ${state(svc.ready)}</h1>
<p class="muted">phase <code>${e(svc.phase)}</code> · pid ${e(svc.pid)} · started ${e(svc.started_at)} · up ${e(svc.uptime_seconds)} s · at ${e(svc.now)} · self-metrics level <code>${e(s.telemetry.level)}</code></p>
</header>
<main>
<section id="problems"><h2>Problems</h2>${summary}</section>
<section id="pipelines"><h2>Pipelines</h2>${pipelines}</section>
<section id="programs"><h2>Programs</h2>${programs}</section>
<section id="maps"><h2>Maps</h2>${maps}</section>
<section id="events"><h2>Event queues</h2>${events}</section>
<section id="components"><h2>Components</h2>${components}</section>
<section id="reload"><h2>Config reload</h2>${reload}</section>
</main>
<footer><p class="muted">This page as JSON: <code>curl -H 'Accept: application/json' …/status</code>. It reloads every 15 s.</p></footer>
</body>
</html>
`;
}
