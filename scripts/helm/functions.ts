/** The Sprig/Helm functions of the helm-template subset (those the chart uses; the piped value comes last). */
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { fail, isMap, print, truthy, type Value } from './values.ts';

const toYaml = (v: Value): string =>
  v === undefined || v === null
    ? 'null'
    : stringify(v, { sortMapEntries: true, indentSeq: false, lineWidth: 0 }).replace(/\n$/, '');

const indentLines = (n: number, s: string): string =>
  s
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');

export const functions: Record<string, (at: string, ...args: Value[]) => Value> = {
  toYaml: (_at, v) => toYaml(v),
  toJson: (_at, v) => JSON.stringify(v ?? null),
  nindent: (_at, n, s) => `\n${indentLines(Number(n), print(s))}`,
  indent: (_at, n, s) => indentLines(Number(n), print(s)),
  quote: (_at, ...vs) => vs.map((v) => JSON.stringify(print(v))).join(' '),
  squote: (_at, ...vs) => vs.map((v) => `'${print(v)}'`).join(' '),
  default: (_at, def, v) => (truthy(v) ? v : def),
  required: (at, message, v) =>
    v === undefined || v === null || v === '' ? fail(`${at}: ${print(message)}`) : v,
  empty: (_at, v) => !truthy(v),
  not: (_at, v) => !truthy(v),
  and: (_at, ...vs) => vs.find((v) => !truthy(v)) ?? vs[vs.length - 1],
  or: (_at, ...vs) => vs.find((v) => truthy(v)) ?? vs[vs.length - 1],
  eq: (_at, a, ...bs) => bs.some((b) => a === b),
  ne: (_at, a, b) => a !== b,
  lt: (_at, a, b) => Number(a) < Number(b),
  gt: (_at, a, b) => Number(a) > Number(b),
  print: (_at, ...vs) => vs.map(print).join(''),
  printf: (at, format, ...args) => {
    let i = 0;
    return String(format).replace(/%([sdvq%])/g, (_m, verb: string) => {
      if (verb === '%') return '%';
      if (i >= args.length) fail(`${at}: printf: too few arguments for ${String(format)}`);
      const a = args[i++];
      return verb === 'q' ? JSON.stringify(print(a)) : print(a);
    });
  },
  trunc: (_at, n, s) => print(s).slice(0, Number(n)),
  trimSuffix: (_at, suffix, s) => {
    const str = print(s);
    const suf = print(suffix);
    return suf !== '' && str.endsWith(suf) ? str.slice(0, -suf.length) : str;
  },
  lower: (_at, s) => print(s).toLowerCase(),
  upper: (_at, s) => print(s).toUpperCase(),
  replace: (_at, from, to, s) => print(s).split(print(from)).join(print(to)),
  sha256sum: (_at, s) => createHash('sha256').update(print(s)).digest('hex'),
  list: (_at, ...vs) => vs,
  dict: (at, ...vs) => {
    if (vs.length % 2 !== 0) fail(`${at}: dict needs key/value pairs`);
    const out: Record<string, Value> = {};
    for (let i = 0; i < vs.length; i += 2) out[print(vs[i])] = vs[i + 1];
    return out;
  },
  hasKey: (_at, m, k) => isMap(m) && print(k) in m,
  keys: (_at, m) => (isMap(m) ? Object.keys(m).sort() : []),
  concat: (_at, ...ls) => ls.flatMap((l): Value[] => (Array.isArray(l) ? (l as Value[]) : [])),
  int: (_at, v) => Math.trunc(Number(v)),
};
