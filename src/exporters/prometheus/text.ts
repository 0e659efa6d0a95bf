import type { HistogramPoint, Labels, MetricFamily, ScalarPoint } from '../../pipeline/data.ts';
import type { ScalarColumns } from '../../pipeline/series.ts';
import { goFloat } from './float.ts';
import { escapeString, escapeValue, exposedName, sanitize, type Kind } from './exposition-names.ts';

/**
 * The exposition text: writes, for assembled families, the bytes that
 * @opentelemetry/exporter-prometheus's PrometheusSerializer writes for
 * `toMetricData(families)` (configured as the exporter configures it: no prefix, no
 * timestamps, no target_info, no scope labels) — without building MetricData objects and
 * without its per-point regular expressions — except for numbers: sample values and `le`
 * bounds are written as Go's Prometheus client writes them (float.ts: `le="1.6e-05"`,
 * `1.234567e+06`), as ebpf_exporter and every Go exporter do, where the serializer writes
 * JavaScript's form (`le="0.000016"`, `1234567`).
 *
 * - The `{name="value",…}` part of each series is rendered once per label set and kept
 *   across scrapes (a label set unseen for one whole scrape is forgotten, so the cache
 *   holds the live series only); per scrape only the values are appended.
 * - Label names are sanitized once per distinct name.
 * - Series tables (pipeline/series.ts) bypass the cache above: the text of a labels object
 *   is kept for as long as the object lives (the series does), each table's lines
 *   `name{…} ` are made once per table (rows array), and per scrape a row costs its value's
 *   text — reused while the value repeats — and two pieces of the output; a table none of
 *   whose values changed costs the comparison only: its bytes are handed out again.
 * - The output is bytes (writeBytes), encoded a slice at a time: a scrape of 100k series
 *   makes no 7 MB string (an old-generation object that only a full collection frees) and
 *   no copy of it for the response.
 *
 * The serializer stays the oracle: text.test.ts compares both over randomized inputs
 * (names, help with escapes, label values with quotes/backslashes/newlines/unicode,
 * counters, gauges, histograms, NaN/±Inf, large integers, empty families), byte for byte
 * but for the numbers, which it compares by value. Every quirk
 * kept here is the serializer's: help escapes only `\` and newline; label names are
 * sanitized without the leading-digit rule; metric names are escaped before they are
 * sanitized (a newline becomes `_n`); families of one name and different types are
 * dropped; the first non-empty help of a name wins.
 */

interface Entry {
  /** `{a="x",b="y"}` or '' for no labels. */
  readonly text: string;
  /** For histograms: `{a="x",b="y",le=` or `{le=`. */
  readonly bucketPrefix: string;
  seen: number;
  /** The last scalar line's start `name{…} ` and the family name it was made for. */
  lineName: string | undefined;
  line: string;
  /** The last scalar value written and its text with the newline (reused while it repeats). */
  value: number;
  valueText: string;
  /** False once swept out of the trie (a labels object may still point to it). */
  live: boolean;
}

/**
 * The output in bytes: strings are collected as pieces and encoded a slice at a time (about
 * `sliceChars` characters: a young-generation string, never one large string per scrape);
 * a series table's bytes are kept and handed on as they are while its values repeat. The
 * array of pieces is kept across scrapes (no array grown anew per scrape); the pieces
 * themselves are the writer's cached strings.
 */
class Output {
  private readonly items: string[] = [];
  private n = 0;
  private chars = 0;
  chunks: Buffer[] = [];
  readonly sliceChars: number;

  constructor(sliceChars: number) {
    this.sliceChars = sliceChars;
  }

  /** Start over (the chunks of the last output belong to whoever took them). */
  reset(): void {
    this.n = 0;
    this.chars = 0;
    this.chunks = [];
  }

  add(s: string): void {
    this.items[this.n++] = s;
    this.chars += s.length;
    if (this.chars >= this.sliceChars) this.flush();
  }

  /** Bytes made before: written after the pieces added so far. */
  addBytes(bytes: readonly Buffer[]): void {
    this.flush();
    for (let i = 0; i < bytes.length; i++) this.chunks.push(bytes[i] as Buffer);
  }

  /** The chunks, the pending pieces encoded last. */
  finish(): Buffer[] {
    this.flush();
    const chunks = this.chunks;
    this.reset();
    return chunks;
  }

  private flush(): void {
    if (this.n === 0) return;
    const items = this.items;
    if (items.length > this.n) items.length = this.n;
    this.chunks.push(Buffer.from(items.join('')));
    this.n = 0;
    this.chars = 0;
  }
}

/** The text of a series table's rows for one family name. */
interface TableText {
  readonly name: string;
  readonly lines: readonly string[];
  /** The values last written and their text (with the newline); '' before the first. */
  readonly last: Float64Array;
  readonly texts: string[];
  /** The table's text as last written, encoded; undefined before the first. */
  bytes: readonly Buffer[] | undefined;
}

interface Group {
  readonly name: string;
  readonly type: Kind;
  help: string;
  readonly families: MetricFamily[];
  dropped: boolean;
}

/** Whether the first `n` values of `a` and `b` are the same bits. */
function sameBits(a: Float64Array, b: Float64Array, n: number): boolean {
  const bytes = n * Float64Array.BYTES_PER_ELEMENT;
  return Buffer.from(a.buffer, a.byteOffset, bytes).equals(Buffer.from(b.buffer, b.byteOffset, bytes));
}

/** Characters encoded at a time: 64 Ki one-byte characters stay a young-generation string. */
const SLICE_CHARS = 64 * 1024;

/**
 * A node of the label-set cache: a trie over names and values, alternating (name, value,
 * name, …), so that finding a label set costs one Map lookup per name and per value, with
 * strings that are usually the very objects seen before (decoders cache theirs), whose hash
 * V8 keeps — no key string is built per series.
 */
interface Node {
  /** Made on first use: most nodes (the last value of a label set) have no children. */
  children: Map<string, Node> | undefined;
  readonly parent: Node | undefined;
  readonly key: string;
  entry: Entry | undefined;
}

function node(parent: Node | undefined, key: string): Node {
  return { children: undefined, parent, key, entry: undefined };
}

export class ExpositionWriter {
  private readonly scalars = node(undefined, '');
  private readonly histograms = node(undefined, '');
  /** Nodes that hold an entry. */
  private readonly terminals = new Set<Node>();
  private readonly labelNames = new Map<string, string>();
  private readonly headers = new Map<string, { help: string; type: Kind; text: string }>();
  /**
   * The entry of a labels object, by identity: assemble hands out the same (immutable)
   * labels object for a live series on every scrape, so most lookups are one WeakMap hit
   * instead of a walk down the trie. A miss (new object) walks the trie as before.
   */
  private readonly byObject = new WeakMap<Labels, Entry>();
  private readonly byObjectHistogram = new WeakMap<Labels, Entry>();
  /** Series tables: the label text of each labels object, and each table's lines (see columns()). */
  private readonly labelText = new WeakMap<Labels, string>();
  private readonly lineOf = new Map<string, WeakMap<Labels, string>>();
  private readonly tables = new WeakMap<readonly Labels[], TableText>();
  private readonly out: Output;
  /** One table's text (columns()). */
  private readonly scratch: Output;
  private generation = 0;
  /** Entries written by the current scrape. */
  private touched = 0;
  /** Bound on distinct label names kept (names come from configuration, so few). */
  private static readonly MAX_NAMES = 10_000;

  /**
   * `sliceChars`: the characters encoded at a time (see Output); tests make it small to
   * cut their texts into many slices.
   */
  constructor(options: { readonly sliceChars?: number } = {}) {
    const slice = options.sliceChars ?? SLICE_CHARS;
    this.out = new Output(slice);
    this.scratch = new Output(slice);
  }

  /** Label sets currently cached (for tests and self-checks). */
  get cachedLabelSets(): number {
    return this.terminals.size;
  }

  /** The exposition text (writeBytes as one string). */
  write(families: readonly MetricFamily[]): string {
    return Buffer.concat(this.writeBytes(families)).toString();
  }

  /**
   * The exposition's bytes in order. The buffers are never written to again (a series
   * table's are handed out again while its values repeat): a response may still be sending
   * them when the next scrape is written.
   */
  writeBytes(families: readonly MetricFamily[]): Buffer[] {
    const generation = ++this.generation;
    this.touched = 0;
    // Indexed loops (and the groups in order beside their Map): this runs once per scrape,
    // mostly before V8 optimizes it, and an unoptimized for-of makes an object per element.
    const groups = new Map<string, Group>();
    const order: Group[] = [];
    for (let i = 0; i < families.length; i++) {
      const f = families[i] as MetricFamily;
      const name = exposedName(f.name, f.kind, f.kind === 'counter' && f.asNamed === true);
      if (name === undefined) continue;
      const g = groups.get(name);
      if (!g) {
        const made: Group = { name, type: f.kind, help: f.help, families: [f], dropped: false };
        groups.set(name, made);
        order.push(made);
        continue;
      }
      if (g.dropped) continue;
      if (g.type !== f.kind) {
        g.dropped = true;
        g.families.length = 0;
        continue;
      }
      if (!g.help) g.help = f.help;
      g.families.push(f);
    }
    // The serializer trims each metric's text and ends it with one newline: that is the
    // header (when first) and the body as written here, every line ending in '\n'.
    // Pieces are collected and encoded a slice at a time: no rope of a cons string per
    // line, no large string; a series whose value repeats adds no new string at all.
    const parts = this.out;
    parts.reset();
    for (let gi = 0; gi < order.length; gi++) {
      const g = order[gi] as Group;
      if (g.dropped) continue;
      parts.add(this.header(g));
      for (let fi = 0; fi < g.families.length; fi++) {
        const f = g.families[fi] as MetricFamily;
        if (f.kind === 'histogram') {
          for (const p of f.points) parts.add(this.histogram(g.name, p, generation));
        } else if (f.columns !== undefined) {
          this.columns(parts, g.name, f.columns);
        } else {
          const points = f.points;
          for (let i = 0; i < points.length; i++)
            this.scalar(parts, g.name, points[i] as ScalarPoint, generation);
        }
      }
    }
    this.sweep(generation);
    const chunks = parts.finish();
    return chunks.length === 0 ? [Buffer.from('# no registered metrics')] : chunks;
  }

  /** A family's `# HELP` and `# TYPE` lines, kept by name while its help and type repeat. */
  private header(g: Group): string {
    const help = g.help || 'description missing';
    let h = this.headers.get(g.name);
    if (h === undefined || h.help !== help || h.type !== g.type) {
      h = {
        help,
        type: g.type,
        text: `# HELP ${g.name} ${escapeString(help)}\n# TYPE ${g.name} ${g.type}\n`,
      };
      if (this.headers.size >= ExpositionWriter.MAX_NAMES) this.headers.clear();
      this.headers.set(g.name, h);
    }
    return h.text;
  }

  private scalar(parts: Output, name: string, p: ScalarPoint, generation: number): void {
    const e = this.entry(p.labels, generation, false);
    if (e.lineName !== name) {
      e.lineName = name;
      e.line = `${name}${e.text} `;
    }
    const v = p.value;
    if (v !== e.value || e.valueText === '') {
      e.value = v;
      e.valueText = `${goFloat(v)}\n`;
    }
    parts.add(e.line);
    parts.add(e.valueText);
  }

  /**
   * A series table's rows: lines made once per table, values' text reused while they repeat,
   * and the table's whole text kept while no value changed (an unchanged scrape adds one
   * piece for the table).
   */
  private columns(parts: Output, name: string, c: ScalarColumns): void {
    let t = this.tables.get(c.rows);
    if (t === undefined || t.name !== name) {
      t = this.tableText(name, c.rows);
      this.tables.set(c.rows, t);
    }
    const { lines, last, texts } = t;
    const values = c.values;
    // Every value as last written, bit for bit (one memcmp; a map at rest, every scrape): the
    // loop below would find nothing to do and go over every row to find it out.
    if (t.bytes !== undefined && sameBits(values, last, lines.length)) {
      parts.addBytes(t.bytes);
      return;
    }
    let changed = t.bytes === undefined;
    for (let i = 0; i < lines.length; i++) {
      const v = values[i] as number;
      // NaN never equals itself: its text is made again, which is rare and correct.
      if (v !== last[i] || texts[i] === '') {
        last[i] = v;
        texts[i] = `${goFloat(v)}\n`;
        changed = true;
      }
    }
    if (changed) {
      const scratch = this.scratch;
      scratch.reset();
      for (let i = 0; i < lines.length; i++) {
        scratch.add(lines[i] as string);
        scratch.add(texts[i] as string);
      }
      t.bytes = scratch.finish();
    }
    parts.addBytes(t.bytes as readonly Buffer[]);
  }

  private tableText(name: string, rows: readonly Labels[]): TableText {
    let lines = this.lineOf.get(name);
    if (lines === undefined) {
      if (this.lineOf.size >= ExpositionWriter.MAX_NAMES) this.lineOf.clear();
      this.lineOf.set(name, (lines = new WeakMap()));
    }
    const out: string[] = new Array<string>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const labels = rows[i] as Labels;
      let line = lines.get(labels);
      if (line === undefined) {
        let text = this.labelText.get(labels);
        if (text === undefined) {
          text = this.render(labels);
          this.labelText.set(labels, text);
        }
        line = `${name}${text} `;
        lines.set(labels, line);
      }
      out[i] = line;
    }
    return {
      name,
      lines: out,
      last: new Float64Array(rows.length),
      texts: new Array<string>(rows.length).fill(''),
      bytes: undefined,
    };
  }

  /** `{a="x",b="y"}`, or '' for no labels. */
  private render(labels: Labels): string {
    let body = '';
    for (const k in labels)
      body += `${body.length > 0 ? ',' : ''}${this.labelName(k)}="${escapeValue(labels[k] ?? '')}"`;
    return body === '' ? '' : `{${body}}`;
  }

  private histogram(name: string, p: HistogramPoint, generation: number): string {
    const e = this.entry(p.labels, generation, true);
    let out = `${name}_count${e.text} ${goFloat(p.count)}\n${name}_sum${e.text} ${goFloat(p.sum)}\n`;
    let cumulative = 0;
    let infinite = false;
    const bucket = `${name}_bucket${e.bucketPrefix}"`;
    for (let i = 0; i < p.counts.length; i++) {
      cumulative += p.counts[i] as number;
      const bound = p.boundaries[i];
      if (bound === undefined && infinite) break;
      if (bound === Infinity) infinite = true;
      out += `${bucket}${bound === undefined ? '+Inf' : goFloat(bound)}"} ${goFloat(cumulative)}\n`;
    }
    return out;
  }

  private entry(labels: Labels, generation: number, histogram: boolean): Entry {
    const objects = histogram ? this.byObjectHistogram : this.byObject;
    let e = objects.get(labels);
    if (e?.live === true) {
      if (e.seen !== generation) {
        e.seen = generation;
        this.touched++;
      }
      return e;
    }
    e = this.trieEntry(labels, generation, histogram);
    objects.set(labels, e);
    return e;
  }

  private trieEntry(labels: Labels, generation: number, histogram: boolean): Entry {
    let n = histogram ? this.histograms : this.scalars;
    for (const k in labels) {
      let c = n.children?.get(k);
      if (c === undefined) (n.children ??= new Map()).set(k, (c = node(n, k)));
      const v = labels[k] as string;
      n = c.children?.get(v) ?? c;
      if (n === c) (c.children ??= new Map()).set(v, (n = node(c, v)));
    }
    let e = n.entry;
    if (e === undefined) {
      let body = '';
      for (const [k, v] of Object.entries(labels)) {
        body += `${body.length > 0 ? ',' : ''}${this.labelName(k)}="${escapeValue(v ?? '')}"`;
      }
      e = {
        text: body === '' ? '' : `{${body}}`,
        bucketPrefix: histogram ? `{${body}${body === '' ? '' : ','}le=` : '',
        seen: generation,
        lineName: undefined,
        line: '',
        value: 0,
        valueText: '',
        live: true,
      };
      n.entry = e;
      this.terminals.add(n);
      this.touched++;
    } else if (e.seen !== generation) {
      e.seen = generation;
      this.touched++;
    }
    return e;
  }

  private labelName(k: string): string {
    let n = this.labelNames.get(k);
    if (n === undefined) {
      n = sanitize(k);
      if (this.labelNames.size >= ExpositionWriter.MAX_NAMES) this.labelNames.clear();
      this.labelNames.set(k, n);
    }
    return n;
  }

  /** Forget label sets not written by this scrape (and the trie nodes left empty). */
  private sweep(generation: number): void {
    if (this.touched === this.terminals.size) return;
    for (const t of this.terminals) {
      if ((t.entry as Entry).seen === generation) continue;
      this.terminals.delete(t);
      (t.entry as Entry).live = false;
      t.entry = undefined;
      let n: Node = t;
      while (n.parent !== undefined && !n.children?.size && n.entry === undefined) {
        n.parent.children?.delete(n.key);
        n = n.parent;
      }
    }
  }
}
