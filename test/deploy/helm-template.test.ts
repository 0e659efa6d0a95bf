/**
 * scripts/helm-template.ts: the Go-template subset behaves as Go's text/template and Helm do
 * (expected outputs written from their documented behaviour), and what is outside the subset is
 * an error naming the template and line, never silently wrong output.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderChart, type RenderOptions } from '../../scripts/helm-template.ts';

/** Render one template `t.yaml` (plus `_helpers.tpl`) of a throw-away chart. */
function renderOne(
  template: string,
  values: Record<string, unknown> = {},
  helpers = '',
  opts: RenderOptions = {},
): unknown[] {
  const dir = mkdtempSync(join(tmpdir(), 'tpl-'));
  try {
    mkdirSync(join(dir, 'templates'));
    mkdirSync(join(dir, 'files'));
    writeFileSync(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: "4.5"\n');
    writeFileSync(
      join(dir, 'values.yaml'),
      'a: {b: 1}\nname: x\nlist: [p, q]\nmap: {z: 1, y: 2}\nempty: ""\n',
    );
    writeFileSync(join(dir, 'files', 'f.txt'), 'line1\nline2\n');
    writeFileSync(join(dir, 'templates', '_helpers.tpl'), helpers);
    writeFileSync(join(dir, 'templates', 't.yaml'), template);
    return renderChart(dir, { ...opts, values: [values] }).flatMap((f) => f.documents);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('helm-template subset', () => {
  it('values, release and chart objects; trim markers remove whitespace and newlines', () => {
    assert.deepEqual(
      renderOne(
        'v: {{ .Values.a.b }}\nn: {{ .Release.Name }}/{{ .Release.Namespace }}\nc: {{ .Chart.Name }}-{{ .Chart.Version }}-{{ .Chart.AppVersion }}\nt: "{{- "  x  " -}}"\n',
        {},
        '',
        { releaseName: 'rel', namespace: 'ns' },
      ),
      [{ v: 1, n: 'rel/ns', c: 'demo-1.2.3-4.5', t: '  x  ' }],
    );
  });

  it('if / else if / else with Go truth (empty string, list and map are false)', () => {
    const t =
      'r: {{ if .Values.empty }}a{{ else if .Values.list }}b{{ else }}c{{ end }}\ns: {{ if not .Values.missing }}none{{ end }}\n';
    assert.deepEqual(renderOne(t), [{ r: 'b', s: 'none' }]);
    assert.deepEqual(renderOne(t, { list: [] }), [{ r: 'c', s: 'none' }]);
  });

  it('range over a list and over a map (sorted keys) with variables; $ inside range', () => {
    assert.deepEqual(
      renderOne(
        'l:\n{{- range .Values.list }}\n  - {{ . }}-{{ $.Values.name }}\n{{- end }}\nm:\n{{- range $k, $v := .Values.map }}\n  {{ $k }}: {{ $v }}\n{{- end }}\n',
      ),
      [{ l: ['p-x', 'q-x'], m: { y: 2, z: 1 } }],
    );
  });

  it('define / include with nindent, toYaml, quote, default, printf, with', () => {
    const helpers =
      '{{- define "demo.labels" -}}\napp: {{ .Values.name }}\nv: {{ .Chart.AppVersion | quote }}\n{{- end -}}';
    assert.deepEqual(
      renderOne(
        'labels:\n  {{- include "demo.labels" . | nindent 2 }}\nobj: {{- toYaml .Values.a | nindent 2 }}\nd: {{ default "dflt" .Values.empty }}\np: {{ printf "%s-%d" .Values.name 7 }}\n{{- with .Values.a }}\nw: {{ .b }}\n{{- end }}\n',
        {},
        helpers,
      ),
      [{ labels: { app: 'x', v: '4.5' }, obj: { b: 1 }, d: 'dflt', p: 'x-7', w: 1 }],
    );
  });

  it('.Files.Get, sha256sum, toJson of a multi-line string', () => {
    assert.deepEqual(renderOne('f: {{ .Files.Get "files/f.txt" | toJson }}\nh: {{ "abc" | sha256sum }}\n'), [
      {
        f: 'line1\nline2\n',
        h: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      },
    ]);
  });

  it('several documents; an empty one is dropped', () => {
    assert.deepEqual(renderOne('{{- if false }}\na: 1\n{{- end }}\n---\nb: 2\n'), [{ b: 2 }]);
  });

  it('outside the subset or wrong: an error with the template and line', () => {
    assert.throws(
      () => renderOne('a: 1\nb: {{ lookup "v1" "Pod" "" "" }}\n'),
      /templates\/t\.yaml:2: function "lookup" is not in the supported subset/,
    );
    assert.throws(
      () => renderOne('a: {{ .Values.nope.deeper }}\n'),
      /templates\/t\.yaml:1: nil pointer evaluating \.Values\.nope\.deeper/,
    );
    assert.throws(
      () => renderOne('{{ if true }}\na: 1\n'),
      /templates\/t\.yaml:1: \{\{if\}\} without \{\{end\}\}/,
    );
    assert.throws(() => renderOne('a: {{ include "nope" . }}\n'), /no template "nope" defined/);
    assert.throws(
      () => renderOne('a: {{ required "give a" .Values.empty }}\n'),
      /templates\/t\.yaml:1: give a/,
    );
    assert.throws(() => renderOne('a: {{ .Values.name\n'), /templates\/t\.yaml:1: unclosed action/);
  });
});
