/**
 * A small Containerfile (Dockerfile) reader: enough of the format to compare the shipped
 * Containerfile's final stage with deploy/image/manifest.ts. Lines joined at a trailing
 * backslash, comments dropped, exec-form arrays as JSON, LABEL `key="value"` pairs.
 */

export interface Instruction {
  readonly keyword: string; // upper case
  readonly args: string;
  readonly line: number; // 1-based line of the instruction's first line
}

export interface Stage {
  readonly from: string;
  readonly name?: string;
  readonly instructions: readonly Instruction[];
}

/** Instructions in file order. */
export function parseInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  let buf = '';
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const trimmed = raw.trim();
    if (buf === '' && (trimmed === '' || trimmed.startsWith('#'))) continue;
    if (buf !== '' && trimmed.startsWith('#')) continue; // comment inside a continued instruction
    if (buf === '') start = i + 1;
    if (trimmed.endsWith('\\')) {
      buf += `${trimmed.slice(0, -1).trim()} `;
      continue;
    }
    buf += trimmed;
    const m = /^(\S+)\s*(.*)$/s.exec(buf);
    if (m) out.push({ keyword: (m[1] ?? '').toUpperCase(), args: (m[2] ?? '').trim(), line: start });
    buf = '';
  }
  if (buf !== '') throw new Error(`Containerfile:${start}: instruction continued past the end of the file`);
  return out;
}

/** Instructions grouped by FROM. */
export function parseStages(text: string): Stage[] {
  const stages: { from: string; name?: string; instructions: Instruction[] }[] = [];
  for (const ins of parseInstructions(text)) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Containerfile:${ins.line}: cannot read FROM ${ins.args}`);
      stages.push({ from: m[1] ?? '', ...(m[2] ? { name: m[2] } : {}), instructions: [] });
    } else {
      const cur = stages[stages.length - 1];
      if (!cur) throw new Error(`Containerfile:${ins.line}: ${ins.keyword} before the first FROM`);
      cur.instructions.push(ins);
    }
  }
  return stages;
}

/** An exec-form argument list (`["a", "b"]`). */
export function execForm(ins: Instruction): string[] {
  let v: unknown;
  try {
    v = JSON.parse(ins.args);
  } catch {
    throw new Error(
      `Containerfile:${ins.line}: ${ins.keyword} is not in exec form (a JSON array): ${ins.args}`,
    );
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new Error(`Containerfile:${ins.line}: ${ins.keyword} must be a JSON array of strings`);
  return v;
}

/** `key=value` pairs with optional double quotes (LABEL, ENV in its key=value form). */
export function keyValues(ins: Instruction): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([^\s=]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/gy;
  let rest = ins.args;
  while (rest.length > 0) {
    re.lastIndex = 0;
    const m = re.exec(rest);
    if (!m) throw new Error(`Containerfile:${ins.line}: cannot read ${ins.keyword} pairs at: ${rest}`);
    out[m[1] ?? ''] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
    rest = rest.slice(m[0].length).trimStart();
  }
  return out;
}

/** Package names of every `apt-get install` in a RUN (options and shell operators aside). */
export function aptInstalls(ins: Instruction): string[] {
  const pkgs: string[] = [];
  for (const cmd of ins.args.split(/&&|;|\|\|/)) {
    const words = cmd.trim().split(/\s+/);
    const i = words.findIndex((w, j) => w === 'install' && /apt(-get)?$/.test(words[j - 1] ?? ''));
    if (i < 0) continue;
    pkgs.push(...words.slice(i + 1).filter((w) => w !== '' && !w.startsWith('-')));
  }
  return pkgs;
}

/** What the final stage says about the image, in the terms of deploy/image/manifest.ts. */
export interface RuntimeStage {
  readonly base: string;
  readonly packages: string[];
  readonly copies: { from?: string; src: string; dest: string }[];
  readonly entrypoint?: string[];
  readonly cmd?: string[];
  readonly user?: string;
  readonly workdir?: string;
  readonly labels: Record<string, string>;
  readonly env: Record<string, string>;
  readonly ports: string[];
}

export function runtimeStage(text: string): RuntimeStage {
  const stages = parseStages(text);
  const last = stages[stages.length - 1];
  if (!last) throw new Error('Containerfile: no FROM');
  const r: {
    -readonly [K in keyof RuntimeStage]: RuntimeStage[K];
  } = { base: last.from, packages: [], copies: [], labels: {}, env: {}, ports: [] };
  for (const ins of last.instructions) {
    switch (ins.keyword) {
      case 'RUN':
        r.packages.push(...aptInstalls(ins));
        break;
      case 'COPY': {
        const words = ins.args.split(/\s+/);
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const plain = words.filter((w) => !w.startsWith('--'));
        r.copies.push({
          ...(from ? { from } : {}),
          src: plain[0] ?? '',
          dest: plain[plain.length - 1] ?? '',
        });
        break;
      }
      case 'ENTRYPOINT':
        r.entrypoint = execForm(ins);
        break;
      case 'CMD':
        r.cmd = execForm(ins);
        break;
      case 'USER':
        r.user = ins.args;
        break;
      case 'WORKDIR':
        r.workdir = ins.args;
        break;
      case 'LABEL':
        Object.assign(r.labels, keyValues(ins));
        break;
      case 'ENV':
        Object.assign(r.env, keyValues(ins));
        break;
      case 'EXPOSE':
        r.ports.push(...ins.args.split(/\s+/).map((p) => (p.includes('/') ? p : `${p}/tcp`)));
        break;
      default:
        break;
    }
  }
  return r;
}
