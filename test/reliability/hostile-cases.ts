/**
 * The hostile configs of hostile-configs.test.ts: hand-written families (YAML bombs, deep
 * nesting, oversized and special files, bad regexes, traversal, bad bounds, objects the
 * kernel must refuse) and generated ones (every checked key × values of the wrong kind,
 * nesting at many depths, syntax breaks injected on every line of a valid config). Each is
 * a config that must be refused: exit 2, a code, a position (or the file or flag named).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type Mode = 'validate' | 'load' | 'dropin';

export interface HostileCase {
  readonly name: string;
  readonly mode: Mode;
  /** validate/load: the --config files (absolute). */
  readonly configs?: readonly string[];
  /** dropin: the flags. */
  readonly dropin?: {
    dir: string;
    names: string[];
    btfPath?: string;
    skipCacheSize?: string;
    listen?: string;
  };
  /** Longest a case may take (a FIFO config waits for its writer up to 5 s). */
  readonly maxMs?: number;
}

const BASE_RECEIVER = `  ebpf/t:
    program: timers
    poll_interval: 15s
`;

/** A pipeline around receiver lines (indented 2) and extra top-level text. */
export function pipeline(
  receiver: string,
  extra = '',
  exporter = '  prometheus:\n    endpoint: 127.0.0.1:0\n',
): string {
  return `receivers:
${receiver}processors:
  ksym: {}
exporters:
${exporter}service:
  pipelines:
    metrics:
      receivers: [ebpf/t]
      processors: [ksym]
      exporters: [prometheus]
${extra}`;
}

export const VALID = pipeline(BASE_RECEIVER);

const HISTOGRAM = (fields: string, labels = BUCKET_LABEL): string => `    metrics:
      histograms:
        - name: h
          help: h
${fields}          labels:
${labels}`;
const BUCKET_LABEL = `            - name: bucket
              size: 8
              decoders: [{ name: uint }]
`;
const EXP2 = '          bucket_type: exp2\n          bucket_min: 0\n';

const COUNTER = (labels: string): string => `    metrics:
      counters:
        - name: c
          help: c
          labels:
${labels}`;
const label = (decoder: string, size = 8): string => `            - name: l
              size: ${size}
              decoders:
                - ${decoder}
`;

/** Build every case under `dir` (files, FIFOs, links); returns them. */
export function hostileCases(dir: string): HostileCase[] {
  const cases: HostileCase[] = [];
  let n = 0;
  const file = (text: string | Buffer, name = `c${++n}.yaml`): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const add = (name: string, text: string, mode: Mode = 'validate'): void => {
    cases.push({ name, mode, configs: [file(text)] });
  };
  const receiver = (lines: string): string => pipeline(`${BASE_RECEIVER}${lines}`);

  // Special files: a FIFO, a directory, a symlink loop, devices.
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  symlinkSync(fifo, join(dir, 'fifo.bpf.o'));
  symlinkSync(fifo, join(dir, 'fifo.yaml'));
  symlinkSync('/dev/zero', join(dir, 'zero.bpf.o'));
  symlinkSync(join(dir, 'loop-b.bpf.o'), join(dir, 'loop-a.bpf.o'));
  symlinkSync(join(dir, 'loop-a.bpf.o'), join(dir, 'loop-b.bpf.o'));
  symlinkSync(join(dir, 'loop-b.yaml'), join(dir, 'loop-a.yaml'));
  symlinkSync(join(dir, 'loop-a.yaml'), join(dir, 'loop-b.yaml'));
  mkdirSync(join(dir, 'adir.bpf.o'));
  mkdirSync(join(dir, 'adir.yaml'));
  writeFileSync(join(dir, 'notelf.bpf.o'), 'not an ELF file\n');

  // --config itself.
  for (const special of [
    '/dev/zero',
    '/dev/null',
    '/dev/urandom',
    dir,
    join(dir, 'loop-a.yaml'),
    join(dir, 'nope.yaml'),
  ])
    cases.push({ name: `--config ${special}`, mode: 'validate', configs: [special] });
  cases.push({ name: '--config FIFO without a writer', mode: 'validate', configs: [fifo], maxMs: 15_000 });
  cases.push({
    name: '--config 2 MiB',
    mode: 'validate',
    configs: [file(`a: "${'x'.repeat(2 * 2 ** 20)}"\n`)],
  });
  cases.push({
    name: '--config 1 MiB + 1 of keys',
    mode: 'validate',
    configs: [file('k: 1\n'.repeat(262_145))],
  });

  // Files the config names.
  const named: [string, string][] = [
    ['/dev/zero', 'zero'],
    ['/dev/urandom', 'urandom'],
    [fifo, 'FIFO'],
    [join(dir, 'adir.yaml'), 'directory'],
    [join(dir, 'loop-a.yaml'), 'symlink loop'],
    [file(`a: "${'y'.repeat(2 ** 20)}"\n`), '1 MiB + 9'],
  ];
  for (const [path, what] of named) {
    add(`metrics_file: ${what}`, receiver(`    metrics_file: ${path}\n`));
    // A big regular file is a usable path for these two (BTF files are MiBs, binaries anything).
    if (!what.startsWith('1 MiB')) add(`btf_path: ${what}`, receiver(`    btf_path: ${path}\n`));
    add(
      `web_config_file: ${what}`,
      pipeline(BASE_RECEIVER, '', `  prometheus:\n    endpoint: 127.0.0.1:0\n    web_config_file: ${path}\n`),
    );
    add(
      `web_config cert_file: ${what}`,
      pipeline(
        BASE_RECEIVER,
        '',
        `  prometheus:\n    endpoint: 127.0.0.1:0\n    web_config:\n      tls_server_config:\n        cert_file: ${path}\n        key_file: ${path}\n`,
      ),
    );
    if (!what.startsWith('1 MiB'))
      add(`binaries: ${what}`, receiver(`    binaries:\n      python3: ${path}\n`));
  }
  for (const obj of ['fifo.bpf.o', 'zero.bpf.o', 'loop-a.bpf.o', 'adir.bpf.o', 'notelf.bpf.o'])
    for (const mode of ['validate', 'load'] as const)
      add(
        `program: ${obj} (${mode})`,
        pipeline(`  ebpf/t:\n    program: ${join(dir, obj)}\n    metrics: {}\n`),
        mode,
      );

  // Path traversal and odd program names.
  for (const p of [
    '../../etc/passwd',
    '/etc/passwd',
    '../../../../../../dev/zero',
    '..',
    '.hidden',
    'timers/../../x',
    'a b',
    '-rf',
    `${'../'.repeat(300)}etc/shadow`,
    'x'.repeat(5000),
  ])
    for (const mode of ['validate', 'load'] as const)
      add(
        `program: ${p.slice(0, 40)} (${mode})`,
        pipeline(`  ebpf/t:\n    program: ${JSON.stringify(p)}\n`),
        mode,
      );
  add(
    'metrics_file: ../../../../etc/shadow',
    receiver('    metrics_file: ../../../../../../../../etc/shadow\n'),
  );
  add(
    'metrics_file: ../../../../etc/hostname',
    receiver('    metrics_file: ../../../../../../../../etc/hostname\n'),
  );

  // YAML bombs.
  const laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 12; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    laughs.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  add('billion laughs (12 levels)', `${laughs.join('\n')}\n`);
  add(
    'anchor bomb (150k list × 900 aliases)',
    `a: &a [${Array(150_000).fill('1').join(',')}]\nb: [${Array(900).fill('*a').join(',')}]\n`,
  );
  add(
    'anchor bomb (1000 aliases of a 1000-key map)',
    `a: &a {${Array.from({ length: 1000 }, (_, i) => `k${i}: ${i}`).join(', ')}}\nb: [${Array(1000).fill('*a').join(',')}]\n`,
  );
  add('alias into itself', 'a: &a [1, *a]\n');
  add('unknown alias', 'a: *nope\n');
  add('merge key', `${VALID}x: &x {a: 1}\ny:\n  <<: *x\n`);
  add('alias as a key', 'a: &k key\n*k : 1\n');

  // Deep nesting, generated at many depths and shapes.
  const shapes: Record<string, (d: number) => string> = {
    'flow lists': (d) => `a: ${'['.repeat(d)}${']'.repeat(d)}\n`,
    'flow maps': (d) => `a: ${'{a: '.repeat(d)}1${'}'.repeat(d)}\n`,
    'block maps': (d) => `${Array.from({ length: d }, (_, i) => `${' '.repeat(i)}k:`).join('\n')} 1\n`,
    'block lists': (d) =>
      `a:\n${Array.from({ length: d }, (_, i) => `${' '.repeat(i * 2)}-`).join('\n')} 1\n`,
    'unclosed flow': (d) => `a: ${'['.repeat(d)}\n`,
  };
  for (const [shape, make] of Object.entries(shapes))
    for (const depth of [65, 100, 300, 1000, 5000]) add(`${depth}-deep ${shape}`, make(depth));

  // Oversized values.
  add('a 200,000-character string', receiver(`    globals:\n      s: "${'s'.repeat(200_000)}"\n`));
  add('a 5,000-character key', `${'k'.repeat(5000)}: 1\n${VALID}`);
  add('a 5,000-character component id', VALID.replace('ebpf/t:', `ebpf/${'t'.repeat(5000)}:`));
  add('a 300-character unknown key', receiver(`    ${'u'.repeat(300)}: 1\n`));
  add(
    'a 100,000-character env default',
    receiver(`    poll_interval: \${env:NOPE_X:-${'9'.repeat(100_000)}}\n`),
  );

  // Bad regexps (regexp decoder in inline metrics).
  for (const re of ['(', '[z-a]', '(?<=a)b', 'a{100000}', '(a+)+$\\', '\\', '(?P<n', '*', 'x'.repeat(5000)])
    add(
      `regexp ${re.slice(0, 30)}`,
      pipeline(
        `  ebpf/t:\n    program: timers\n${COUNTER(label(`{ name: regexp, regexps: [${JSON.stringify(re)}] }`))}`,
      ),
    );

  // Bad bounds.
  const bounds: [string, string][] = [
    ['bucket_max: 100000000', HISTOGRAM(`${EXP2}          bucket_max: 100000000\n`)],
    ['bucket_max: 2000 (2^2000)', HISTOGRAM(`${EXP2}          bucket_max: 2000\n`)],
    [
      'bucket_multiplier: 1e308 (Infinity)',
      HISTOGRAM(`${EXP2}          bucket_max: 26\n          bucket_multiplier: 1e308\n`),
    ],
    [
      'bucket_multiplier: 1e300, exp2 to 100',
      HISTOGRAM(`${EXP2}          bucket_max: 100\n          bucket_multiplier: 1e300\n`),
    ],
    [
      'linear 0..5000',
      HISTOGRAM('          bucket_type: linear\n          bucket_min: 0\n          bucket_max: 5000\n'),
    ],
    [
      'bucket_keys × 2000',
      HISTOGRAM(
        `          bucket_type: fixed\n          bucket_keys: [${Array.from({ length: 2000 }, (_, i) => i).join(',')}]\n`,
      ),
    ],
    [
      'bucket_min: -1',
      HISTOGRAM(`          bucket_type: exp2\n          bucket_min: -1\n          bucket_max: 3\n`),
    ],
    ['bucket_max: 2^60', HISTOGRAM(`${EXP2}          bucket_max: 1152921504606846976\n`)],
    ['40 labels', COUNTER(Array(40).fill(label('{ name: uint }')).join(''))],
    ['label size 100000', COUNTER(label('{ name: uint }', 100_000))],
    ['label size 0', COUNTER(label('{ name: uint }', 0))],
    ['label size 1e30', COUNTER(label('{ name: uint }', 1e30))],
    [
      'static_map × 70,000',
      COUNTER(
        label(
          `{ name: static_map, static_map: { ${Array.from({ length: 70_000 }, (_, i) => `${i}: v`).join(', ')} } }`,
        ),
      ),
    ],
    ['regexps × 2000', COUNTER(label(`{ name: regexp, regexps: [${Array(2000).fill('"a"').join(',')}] }`))],
    [
      '1100 counters',
      `    metrics:\n      counters:\n${Array.from({ length: 1100 }, (_, i) => `        - { name: c${i}, help: c }\n`).join('')}`,
    ],
  ];
  for (const [name, metrics] of bounds) add(name, pipeline(`  ebpf/t:\n    program: timers\n${metrics}`));
  const keyBounds: [string, string][] = [
    ['poll_interval: 0s', '    poll_interval: 0s\n'],
    ['poll_interval: 1ms', '    poll_interval: 1ms\n'],
    ['poll_interval: 99ms', '    poll_interval: 99ms\n'],
    ['poll_interval: 30d', '    poll_interval: 720h\n'],
    ['poll_interval: 1000000h', '    poll_interval: 1000000h\n'],
    ['drain_interval: 0s', '    events:\n      drain_interval: 0s\n'],
    ['queue_size: 1e9', '    events:\n      queue_size: 1000000000\n'],
    ['batch_size: 1e6', '    events:\n      batch_size: 1000000\n'],
    ['perf_buffer_pages: 2048', '    events:\n      perf_buffer_pages: 2048\n'],
    ['perf_buffer_pages: 3', '    events:\n      perf_buffer_pages: 3\n'],
    ['skip_cache_size: 1e12', '    skip_cache_size: 1000000000000\n'],
  ];
  for (const [name, lines] of keyBounds) add(name, pipeline(`  ebpf/t:\n    program: timers\n${lines}`));

  // What only the kernel load finds (validate --load), each positioned at its key.
  add('unknown global (load)', receiver('    globals:\n      no_such_global: 1\n'), 'load');
  add('unknown kaddrs symbol (load)', receiver('    kaddrs: [no_such_symbol_anywhere]\n'), 'load');
  add(
    'metrics that do not fit the maps (load)',
    pipeline(`  ebpf/t:\n    program: timers\n${COUNTER(label('{ name: uint }'))}`),
    'load',
  );
  add(
    'object that does not exist (load)',
    pipeline(`  ebpf/t:\n    program: ${join(dir, 'missing.bpf.o')}\n    metrics: {}\n`),
    'load',
  );
  // A map the object sizes beyond what a metric may read (LIMITS.mapEntries): refused before load.
  const huge = join(process.cwd(), 'build', 'bpf', 'huge_map.bpf.o');
  add(
    'a metric map of 16,777,216 entries, metrics_file (load)',
    pipeline(
      `  ebpf/t:\n    program: ${huge}\n    metrics_file: ${join(process.cwd(), 'test', 'bpf', 'huge_map.yaml')}\n`,
    ),
    'load',
  );
  add(
    'a metric map of 16,777,216 entries, inline metrics (load)',
    pipeline(
      `  ebpf/t:\n    program: ${huge}\n    metrics:\n      counters:\n        - name: huge_getpid_calls_total\n          help: h\n          labels:\n            - name: pid\n              size: 4\n              decoders: [{ name: uint }]\n`,
    ),
    'load',
  );
  add(
    'a ring buffer of 1 GiB to drain (load)',
    pipeline(
      `  ebpf/t:\n    program: ${huge}\n    metrics:\n      counters:\n        - name: huge_ring_records_total\n          help: h\n          events: huge_ring\n`,
    ),
    'load',
  );
  add('a kaddrs symbol of 300 characters (load)', receiver(`    kaddrs: [${'k'.repeat(300)}]\n`), 'load');
  add('a global of 300 characters (load)', receiver(`    globals:\n      ${'g'.repeat(300)}: 1\n`), 'load');

  // Odd YAML.
  add('several documents', `${VALID}---\n${VALID}`);
  add('tab indentation', VALID.replace('    program', '\tprogram'));
  add('NUL bytes', `${VALID}\u0000\u0000`);
  add(
    'invalid UTF-8',
    Buffer.concat([Buffer.from(VALID), Buffer.from([0xff, 0xfe, 0x0a])]).toString('latin1'),
  );
  add('!!binary value', receiver('    globals:\n      b: !!binary aGVsbG8=\n'));
  add('custom tag', receiver('    poll_interval: !duration 15s\n'));
  add('top level is a list', '- a\n- b\n');
  add('top level is a scalar', 'just text\n');
  add('receivers is a list', 'receivers: [a, b]\n');
  add('unset env', receiver('    program: ${env:NOPE_UNSET_VAR}\n'));
  add('broken env reference', receiver('    poll_interval: ${env:\n'));
  add('env reference in a key', '${env:HOME}: 1\n');
  add('numbers as keys', '1: 2\n3: 4\n');
  add('duplicate keys across types', '1: a\n"1": b\n');
  add('__proto__ key', `__proto__: { polluted: 1 }\n${VALID}`);

  // Generated: every checked key of the receiver and exporter × values of the wrong kind.
  const wrong = [
    '[]',
    '{}',
    '{ a: 1 }',
    '-1',
    '1.5',
    'null',
    'true',
    `"${'w'.repeat(300)}"`,
    '"\\u0000"',
    '1e400',
    '"${env:NOPE_UNSET}"',
  ];
  const keys: [string, readonly string[]][] = [
    ['poll_interval', wrong],
    ['program', ['[]', '{}', '{ a: 1 }', '-1', '1.5', 'null', 'true', '""', '"\\u0000"']],
    ['metrics_file', ['[]', '{}', '-1', 'null', 'true', '""', `"/${'d/'.repeat(3000)}x"`]],
    ['strict', wrong.filter((v) => v !== 'true')],
    ['globals', ['[]', '-1', '"text"', 'true', '{ a: [] }', '{ a: {} }']],
    ['kaddrs', ['{}', '-1', '"text"', '[[]]', '[{}]']],
    ['hooks', ['{}', '-1', '"text"', '[""]', '[[]]']],
    ['binaries', ['[]', '-1', '{ python3: relative/path }', '{ python3: [] }', '{ "": /bin/sh }']],
    ['skip_cache_size', wrong],
    ['events', ['[]', '-1', '"text"', '{ queue_size: 0 }', '{ overflow: sideways }', '{ bogus: 1 }']],
    ['no_such_key', ['1']],
  ];
  for (const [key, values] of keys)
    for (const v of values)
      add(
        `receiver ${key}: ${v.slice(0, 30)}`,
        pipeline(
          `  ebpf/t:\n    program: timers\n    ${key}: ${v}\n`.replace(
            /\n {4}program: timers\n {4}program: (.*)\n/,
            '\n    program: $1\n',
          ),
        ),
      );
  const exporterKeys: [string, readonly string[]][] = [
    [
      'endpoint',
      ['[]', '{}', '-1', 'null', '"nohost"', '"1.2.3.4:99999"', '":-1"', `"${'h'.repeat(300)}:1"`],
    ],
    ['metrics_path', ['[]', '{}', '1', '"no-slash"', `"${'p'.repeat(5000)}"`]],
    [
      'web_config',
      [
        '[]',
        '-1',
        '{ bogus: 1 }',
        '{ basic_auth_users: { u: not-a-bcrypt-hash } }',
        '{ tls_server_config: { cert: x, key: y } }',
      ],
    ],
    ['no_such_key', ['1']],
  ];
  for (const [key, values] of exporterKeys)
    for (const v of values)
      add(
        `exporter ${key}: ${v.slice(0, 30)}`,
        pipeline(BASE_RECEIVER, '', `  prometheus:\n    ${key}: ${v}\n`),
      );

  // Generated: a syntax break on every line of the valid config.
  VALID.split('\n').forEach((_, i, lines) => {
    if (i >= lines.length - 1) return;
    const broken = [...lines.slice(0, i), `${lines[i]} ]: {`, ...lines.slice(i + 1)].join('\n');
    add(`syntax break on line ${i + 1}`, broken);
    const tabbed = [...lines.slice(0, i), `\t${lines[i]}`, ...lines.slice(i + 1)].join('\n');
    if (lines[i]?.startsWith(' ')) add(`tab on line ${i + 1}`, tabbed);
  });

  // ebpf_exporter's flags: --config.dir with hostile <name>.yaml (and objects).
  const dropDir = join(dir, 'dropin');
  mkdirSync(dropDir);
  const dropBodies: [string, string][] = [
    ['1000-deep', `metrics: ${'['.repeat(1000)}${']'.repeat(1000)}\n`],
    ['billion laughs', `${laughs.join('\n')}\n`],
    [
      'histogram bucket_max 1e8',
      `metrics:\n  histograms:\n    - name: h\n      help: h\n      bucket_type: exp2\n      bucket_min: 0\n      bucket_max: 100000000\n      labels:\n        - name: bucket\n          size: 8\n          decoders: [{ name: uint }]\n`,
    ],
    [
      'bad regexp',
      `metrics:\n  counters:\n    - name: c\n      help: c\n      labels:\n        - name: l\n          size: 8\n          decoders: [{ name: regexp, regexps: ["("] }]\n`,
    ],
    ['no metrics', 'nothing: here\n'],
    ['scalar', 'text\n'],
    ['2 MiB', `a: "${'z'.repeat(2 * 2 ** 20)}"\n`],
    ['spans 1000-deep', `tracing:\n  spans: ${'['.repeat(1000)}${']'.repeat(1000)}\n`],
  ];
  dropBodies.forEach(([what, body], i) => {
    writeFileSync(join(dropDir, `d${i}.yaml`), body);
    symlinkSync(join(process.cwd(), 'build', 'bpf', 'timers.bpf.o'), join(dropDir, `d${i}.bpf.o`));
    cases.push({ name: `--config.dir ${what}`, mode: 'dropin', dropin: { dir: dropDir, names: [`d${i}`] } });
  });
  const specials: [string, string][] = [
    ['fifo', fifo],
    ['zero', '/dev/zero'],
    ['adir', join(dir, 'adir.yaml')],
    ['loop', join(dir, 'loop-a.yaml')],
  ];
  for (const [name, target] of specials) {
    symlinkSync(target, join(dropDir, `${name}.yaml`));
    symlinkSync(join(process.cwd(), 'build', 'bpf', 'timers.bpf.o'), join(dropDir, `${name}.bpf.o`));
    cases.push({
      name: `--config.dir ${name}.yaml`,
      mode: 'dropin',
      dropin: { dir: dropDir, names: [name] },
    });
  }
  copyFileSync(join(process.cwd(), 'bpf', 'timers.yaml'), join(dropDir, 'ok.yaml'));
  symlinkSync(join(process.cwd(), 'build', 'bpf', 'timers.bpf.o'), join(dropDir, 'ok.bpf.o'));
  writeFileSync(join(dropDir, 'obj.yaml'), 'metrics: {}\n');
  symlinkSync(fifo, join(dropDir, 'obj.bpf.o'));
  cases.push({ name: '--config.dir FIFO object', mode: 'dropin', dropin: { dir: dropDir, names: ['obj'] } });
  const flagCases: [string, HostileCase['dropin']][] = [
    ['--config.names ../x', { dir: dropDir, names: ['../x'] }],
    ['--config.names empty', { dir: dropDir, names: [''] }],
    ['--config.names 5000 chars', { dir: dropDir, names: ['n'.repeat(5000)] }],
    ['--config.dir missing', { dir: join(dir, 'no-such-dir'), names: ['d0'] }],
    ['--config.dir is a file', { dir: join(dir, 'notelf.bpf.o'), names: ['d0'] }],
    ['--config.dir /dev', { dir: '/dev', names: ['zero'] }],
    ['--btf.path FIFO', { dir: dropDir, names: ['ok'], btfPath: fifo }],
    ['--web.listen-address bogus', { dir: dropDir, names: ['ok'], listen: 'not an address' }],
    ['--config.skip-cache-size 1e12', { dir: dropDir, names: ['ok'], skipCacheSize: '1000000000000' }],
  ];
  for (const [name, flags] of flagCases) cases.push({ name, mode: 'dropin', dropin: flags });
  return cases;
}
