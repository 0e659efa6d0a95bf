/**
 * Relabeling cases as facts: inputs, rules and expected outputs of Prometheus's
 * `model/relabel/relabel_test.go` (TestRelabel, TestRelabelValidate,
 * TestTargetLabelValidity), written out as our own table, plus cases of ours for the
 * Go template and RE2 details the reference names (marked "ours").
 */

export type Labels = Record<string, string>;
export type RuleInput = Record<string, unknown>;

export interface RelabelCase {
  readonly name: string;
  readonly input: Labels;
  readonly rules: readonly RuleInput[];
  /** Expected labels, or 'drop'. */
  readonly output: Labels | 'drop';
}

export const relabelCases: readonly RelabelCase[] = [
  {
    name: 'replace with ${1} twice',
    input: { a: 'foo', b: 'bar', c: 'baz' },
    rules: [{ source_labels: ['a'], regex: 'f(.*)', target_label: 'd', replacement: 'ch${1}-ch${1}' }],
    output: { a: 'foo', b: 'bar', c: 'baz', d: 'choo-choo' },
  },
  {
    name: 'two replaces, the second reads what the first wrote',
    input: { a: 'foo', b: 'bar', c: 'baz' },
    rules: [
      { source_labels: ['a', 'b'], regex: 'f(.*);(.*)r', target_label: 'a', replacement: 'b${1}${2}m' },
      { source_labels: ['c', 'a'], regex: '(b).*b(.*)ba(.*)', target_label: 'd', replacement: '$1$2$2$3' },
    ],
    output: { a: 'boobam', b: 'bar', c: 'baz', d: 'boooom' },
  },
  {
    name: 'drop stops processing',
    input: { a: 'foo' },
    rules: [
      { source_labels: ['a'], regex: '.*o.*', action: 'drop' },
      { source_labels: ['a'], regex: 'f(.*)', target_label: 'd', replacement: 'ch$1-ch$1' },
    ],
    output: 'drop',
  },
  {
    name: 'drop on a match',
    input: { a: 'foo', b: 'bar' },
    rules: [{ source_labels: ['a'], regex: '.*o.*', action: 'drop' }],
    output: 'drop',
  },
  {
    name: 'replace with a group in the middle',
    input: { a: 'abc' },
    rules: [{ source_labels: ['a'], regex: '.*(b).*', target_label: 'd', replacement: '$1' }],
    output: { a: 'abc', d: 'b' },
  },
  {
    name: 'drop without a match keeps',
    input: { a: 'foo' },
    rules: [{ source_labels: ['a'], regex: 'no-match', action: 'drop' }],
    output: { a: 'foo' },
  },
  {
    name: 'the regexp is anchored: f|o does not match foo',
    input: { a: 'foo' },
    rules: [{ source_labels: ['a'], regex: 'f|o', action: 'drop' }],
    output: { a: 'foo' },
  },
  {
    name: 'keep without a match drops',
    input: { a: 'foo' },
    rules: [{ source_labels: ['a'], regex: 'no-match', action: 'keep' }],
    output: 'drop',
  },
  {
    name: 'keep on a match',
    input: { a: 'foo' },
    rules: [{ source_labels: ['a'], regex: 'f.*', action: 'keep' }],
    output: { a: 'foo' },
  },
  {
    name: 'no replacement without a match',
    input: { a: 'boo' },
    rules: [{ source_labels: ['a'], regex: 'f', target_label: 'b', replacement: 'bar' }],
    output: { a: 'boo' },
  },
  {
    name: 'hashmod',
    input: { a: 'foo', b: 'bar', c: 'baz' },
    rules: [{ source_labels: ['c'], target_label: 'd', action: 'hashmod', modulus: 1000 }],
    output: { a: 'foo', b: 'bar', c: 'baz', d: '976' },
  },
  {
    name: 'hashmod of a value with a newline',
    input: { a: 'foo\nbar' },
    rules: [{ source_labels: ['a'], target_label: 'b', action: 'hashmod', modulus: 1000 }],
    output: { a: 'foo\nbar', b: '734' },
  },
  {
    name: 'labelmap with a prefix',
    input: { a: 'foo', b1: 'bar', b2: 'baz' },
    rules: [{ regex: '(b.*)', replacement: 'bar_${1}', action: 'labelmap' }],
    output: { a: 'foo', b1: 'bar', b2: 'baz', bar_b1: 'bar', bar_b2: 'baz' },
  },
  {
    name: 'labelmap strips a prefix',
    input: { a: 'foo', __meta_my_bar: 'aaa', __meta_my_baz: 'bbb', __meta_other: 'ccc' },
    rules: [{ regex: '__meta_(my.*)', replacement: '${1}', action: 'labelmap' }],
    output: {
      a: 'foo',
      __meta_my_bar: 'aaa',
      __meta_my_baz: 'bbb',
      __meta_other: 'ccc',
      my_bar: 'aaa',
      my_baz: 'bbb',
    },
  },
  {
    name: 'target_label from a group',
    input: { a: 'some-name-value' },
    rules: [
      { source_labels: ['a'], regex: 'some-([^-]+)-([^,]+)', replacement: '${2}', target_label: '${1}' },
    ],
    output: { a: 'some-name-value', name: 'value' },
  },
  {
    name: 'a replacement of an unknown group is empty: nothing set',
    input: { a: 'some-name-value' },
    rules: [
      { source_labels: ['a'], regex: 'some-([^-]+)-([^,]+)', replacement: '${3}', target_label: '${1}' },
    ],
    output: { a: 'some-name-value' },
  },
  {
    name: 'a target_label that expands to an invalid name is skipped',
    input: { a: 'some-name-0' },
    rules: [
      { source_labels: ['a'], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}' },
      { source_labels: ['a'], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}' },
      { source_labels: ['a'], regex: 'some-([^-]+)(-[^,]+)', replacement: '${1}', target_label: '${3}' },
    ],
    output: { a: 'some-name-0' },
  },
  {
    name: 'service discovery tags into labels',
    input: { __meta_sd_tags: 'path:/secret,job:some-job,label:foo=bar' },
    rules: [
      {
        source_labels: ['__meta_sd_tags'],
        regex: '(?:.+,|^)path:(/[^,]+).*',
        replacement: '${1}',
        target_label: '__metrics_path__',
      },
      {
        source_labels: ['__meta_sd_tags'],
        regex: '(?:.+,|^)job:([^,]+).*',
        replacement: '${1}',
        target_label: 'job',
      },
      {
        source_labels: ['__meta_sd_tags'],
        regex: '(?:.+,|^)label:([^=]+)=([^,]+).*',
        replacement: '${2}',
        target_label: '${1}',
      },
    ],
    output: {
      __meta_sd_tags: 'path:/secret,job:some-job,label:foo=bar',
      __metrics_path__: '/secret',
      job: 'some-job',
      foo: 'bar',
    },
  },
  {
    name: 'labeldrop then replace the same label then keep on it (prometheus#12283)',
    input: {
      __meta_kubernetes_pod_container_port_name: 'foo',
      __meta_kubernetes_pod_annotation_XXX_metrics_port: '9091',
    },
    rules: [
      { regex: '^__meta_kubernetes_pod_container_port_name$', action: 'labeldrop' },
      {
        source_labels: ['__meta_kubernetes_pod_annotation_XXX_metrics_port'],
        regex: '(.+)',
        replacement: 'metrics',
        target_label: '__meta_kubernetes_pod_container_port_name',
      },
      { source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: '^metrics$', action: 'keep' },
    ],
    output: {
      __meta_kubernetes_pod_annotation_XXX_metrics_port: '9091',
      __meta_kubernetes_pod_container_port_name: 'metrics',
    },
  },
  {
    name: 'labelkeep',
    input: { a: 'foo', b1: 'bar', b2: 'baz' },
    rules: [{ regex: '(b.*)', action: 'labelkeep' }],
    output: { b1: 'bar', b2: 'baz' },
  },
  {
    name: 'labeldrop',
    input: { a: 'foo', b1: 'bar', b2: 'baz' },
    rules: [{ regex: '(b.*)', action: 'labeldrop' }],
    output: { a: 'foo' },
  },
  {
    name: 'uppercase and lowercase',
    input: { foo: 'bAr123Foo' },
    rules: [
      { source_labels: ['foo'], action: 'uppercase', target_label: 'foo_uppercase' },
      { source_labels: ['foo'], action: 'lowercase', target_label: 'foo_lowercase' },
    ],
    output: { foo: 'bAr123Foo', foo_lowercase: 'bar123foo', foo_uppercase: 'BAR123FOO' },
  },
  {
    name: 'keepequal with equal values keeps',
    input: { __tmp_port: '1234', __port1: '1234', __port2: '5678' },
    rules: [{ source_labels: ['__tmp_port'], action: 'keepequal', target_label: '__port1' }],
    output: { __tmp_port: '1234', __port1: '1234', __port2: '5678' },
  },
  {
    name: 'dropequal with equal values drops',
    input: { __tmp_port: '1234', __port1: '1234', __port2: '5678' },
    rules: [{ source_labels: ['__tmp_port'], action: 'dropequal', target_label: '__port1' }],
    output: 'drop',
  },
  {
    name: 'dropequal with different values keeps',
    input: { __tmp_port: '1234', __port1: '1234', __port2: '5678' },
    rules: [{ source_labels: ['__tmp_port'], action: 'dropequal', target_label: '__port2' }],
    output: { __tmp_port: '1234', __port1: '1234', __port2: '5678' },
  },
  {
    name: 'keepequal with different values drops',
    input: { __tmp_port: '1234', __port1: '1234', __port2: '5678' },
    rules: [{ source_labels: ['__tmp_port'], action: 'keepequal', target_label: '__port2' }],
    output: 'drop',
  },
  // ---- ours: details of the reference semantics ----
  {
    name: 'ours: fast path sets a constant label',
    input: { a: 'foo' },
    rules: [{ target_label: 'b', replacement: 'bar' }],
    output: { a: 'foo', b: 'bar' },
  },
  {
    name: 'ours: fast path with an empty replacement deletes the label',
    input: { a: 'foo', b: 'bar' },
    rules: [{ target_label: 'b', replacement: '' }],
    output: { a: 'foo' },
  },
  {
    name: 'ours: replacing with an empty value deletes the target',
    input: { a: 'foo', b: 'bar' },
    rules: [{ source_labels: ['a'], regex: 'foo()', target_label: 'b' }],
    output: { a: 'foo' },
  },
  {
    name: 'ours: $1x is the group named 1x (empty), as in Go',
    input: { a: 'foo', d: 'old' },
    rules: [{ source_labels: ['a'], regex: '(f)(.*)', target_label: 'd', replacement: '$1x' }],
    output: { a: 'foo' },
  },
  {
    name: 'ours: ${1}x is group 1 then x',
    input: { a: 'foo' },
    rules: [{ source_labels: ['a'], regex: '(f)(.*)', target_label: 'd', replacement: '${1}x' }],
    output: { a: 'foo', d: 'fx' },
  },
  {
    name: 'ours: $$ is a literal dollar',
    input: { a: 'foo' },
    rules: [{ source_labels: ['a'], target_label: 'd', replacement: '$$1-$$' }],
    output: { a: 'foo', d: '$1-$' },
  },
  {
    name: 'ours: named groups',
    input: { a: 'foo' },
    rules: [{ source_labels: ['a'], regex: '(?P<first>f)(.*)', target_label: 'd', replacement: '${first}-$2' }],
    output: { a: 'foo', d: 'f-oo' },
  },
  {
    name: 'ours: a group that did not take part expands to ""',
    input: { a: 'foo' },
    rules: [{ source_labels: ['a'], regex: '(x)?(foo)', target_label: 'd', replacement: '<${1}>' }],
    output: { a: 'foo', d: '<>' },
  },
  {
    name: 'ours: . matches a newline (Prometheus 3 compiles (?s:…))',
    input: { a: 'foo\nbar' },
    rules: [{ source_labels: ['a'], regex: 'foo.bar', action: 'keep' }],
    output: { a: 'foo\nbar' },
  },
  {
    name: 'ours: (?i) flag',
    input: { a: 'FOO' },
    rules: [{ source_labels: ['a'], regex: '(?i)foo', action: 'drop' }],
    output: 'drop',
  },
  {
    name: 'ours: a missing source label reads as ""; a custom separator',
    input: { a: 'x', c: 'z' },
    rules: [{ source_labels: ['a', 'b', 'c'], separator: '/', regex: '(.*)', target_label: 'd' }],
    output: { a: 'x', c: 'z', d: 'x//z' },
  },
  {
    name: 'ours: labelmap does not rematch labels it adds in the same step',
    input: { a_b: '1' },
    rules: [{ regex: '(a.*)', replacement: '${1}_x', action: 'labelmap' }],
    output: { a_b: '1', a_b_x: '1' },
  },
  {
    name: 'ours: the action name is case-insensitive',
    input: { a: 'foo' },
    rules: [{ source_labels: ['a'], regex: 'foo', action: 'DROP' }],
    output: 'drop',
  },
];

export interface ValidateCase {
  readonly name: string;
  readonly rule: RuleInput;
  /** A part of the expected message, and the code; undefined when the rule is valid. */
  readonly error?: { readonly code: string; readonly message: string } | undefined;
}

/** TestRelabelValidate, plus the action-specific field rules of Config.Validate. */
export const validateCases: readonly ValidateCase[] = [
  { name: 'replace needs target_label', rule: { action: 'replace' }, error: { code: 'ERR_CONFIG_MISSING', message: "requires 'target_label'" } },
  { name: 'lowercase needs target_label', rule: { action: 'lowercase' }, error: { code: 'ERR_CONFIG_MISSING', message: "requires 'target_label'" } },
  {
    name: 'lowercase target_label cannot be a template',
    rule: { action: 'lowercase', replacement: '$1', target_label: '${3}' },
    error: { code: 'ERR_CONFIG_VALUE', message: `"\${3}" is invalid 'target_label'` },
  },
  {
    name: 'replace target_label may be a template',
    rule: { source_labels: ['a'], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}' },
  },
  {
    name: 'replace target_label template cannot start with a digit',
    rule: { source_labels: ['a'], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '0${3}' },
    error: { code: 'ERR_CONFIG_VALUE', message: `"0\${3}" is invalid 'target_label'` },
  },
  {
    name: 'replace target_label template cannot start with -',
    rule: { source_labels: ['a'], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '-${3}' },
    error: { code: 'ERR_CONFIG_VALUE', message: `"-\${3}" is invalid 'target_label' for replace` },
  },
  { name: 'hashmod needs a modulus', rule: { action: 'hashmod', target_label: 'h', source_labels: ['a'] }, error: { code: 'ERR_CONFIG_MISSING', message: 'modulus greater than 0' } },
  { name: 'uppercase refuses a replacement', rule: { action: 'uppercase', target_label: 'u', replacement: 'x' }, error: { code: 'ERR_CONFIG_VALUE', message: "'replacement' can not be set" } },
  { name: 'keepequal refuses a regex', rule: { action: 'keepequal', target_label: 't', regex: 'x' }, error: { code: 'ERR_CONFIG_VALUE', message: "takes only 'source_labels' and 'target_label'" } },
  { name: 'labeldrop refuses source_labels', rule: { action: 'labeldrop', regex: 'x', source_labels: [] }, error: { code: 'ERR_CONFIG_VALUE', message: "takes only 'regex'" } },
  { name: 'labelkeep refuses target_label', rule: { action: 'labelkeep', regex: 'x', target_label: 'y' }, error: { code: 'ERR_CONFIG_VALUE', message: "takes only 'regex'" } },
  { name: 'labelmap replacement must be a name template', rule: { action: 'labelmap', regex: '(.*)', replacement: '-$1' }, error: { code: 'ERR_CONFIG_VALUE', message: "is invalid 'replacement'" } },
  { name: 'lookahead is not RE2', rule: { action: 'drop', regex: 'a(?=b)' }, error: { code: 'ERR_CONFIG_REGEXP', message: 'not a valid RE2 regexp' } },
  { name: 'unknown action', rule: { action: 'rename' }, error: { code: 'ERR_CONFIG_ENUM', message: 'expected one of' } },
  { name: 'an invalid source label name', rule: { action: 'drop', source_labels: ['a-b'] }, error: { code: 'ERR_CONFIG_VALUE', message: 'not a valid label name' } },
];

/** TestTargetLabelValidity: a replace target_label, valid or not. */
export const targetLabelCases: readonly (readonly [string, boolean])[] = [
  ['-label', false],
  ['label', true],
  ['label${1}', true],
  ['${1}label', true],
  ['${1}', true],
  ['${', false],
  ['$', false],
  ['${}', false],
  ['foo${', false],
  ['$1', true],
  ['asd$2asd', true],
  ['-foo${1}bar-', false],
  ['_${1}_', true],
  ['foo${bar}foo', true],
];
