import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);

/**
 * One collection's response body: its bytes (the exposition writer's chunks, or a text
 * encoded once), gzip made once on first need (off the event loop), both shared by every
 * request that waited for that collection.
 */
export class ScrapeBody {
  readonly chunks: readonly Buffer[];
  readonly length: number;
  private compressed: Promise<Buffer> | undefined;

  constructor(body: string | readonly Buffer[]) {
    this.chunks = typeof body === 'string' ? [Buffer.from(body)] : body;
    let length = 0;
    for (const c of this.chunks) length += c.length;
    this.length = length;
  }

  gzipped(): Promise<Buffer> {
    this.compressed ??= gzipAsync(Buffer.concat(this.chunks, this.length));
    return this.compressed;
  }
}

/**
 * The body of each collection, by the collection's promise (concurrent scrapes share one
 * promise, exporter.ts): held only while a request still waits on that promise.
 */
export class SharedBodies {
  private readonly bodies = new WeakMap<Promise<string | readonly Buffer[]>, ScrapeBody>();

  async of(collection: Promise<string | readonly Buffer[]>): Promise<ScrapeBody> {
    const text = await collection;
    let body = this.bodies.get(collection);
    if (body === undefined) {
      body = new ScrapeBody(text);
      this.bodies.set(collection, body);
    }
    return body;
  }
}

/**
 * Whether an Accept-Encoding header accepts gzip (RFC 9110 §12.5.3): `gzip` or `x-gzip`
 * with a q-value above 0, or else `*` with one; `gzip;q=0` refuses it.
 */
export function acceptsGzip(header: string | readonly string[] | undefined): boolean {
  if (header === undefined) return false;
  let gzipQ: number | undefined;
  let anyQ: number | undefined;
  for (const part of (typeof header === 'string' ? header : header.join(',')).split(',')) {
    const [coding = '', ...params] = part.split(';');
    const name = coding.trim().toLowerCase();
    let q = 1;
    for (const p of params) {
      const eq = p.indexOf('=');
      if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== 'q') continue;
      const v = p.slice(eq + 1).trim();
      q = /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(v) ? Number(v) : 0;
    }
    if (name === 'gzip' || name === 'x-gzip') gzipQ = Math.max(gzipQ ?? 0, q);
    else if (name === '*') anyQ = q;
  }
  return (gzipQ ?? anyQ ?? 0) > 0;
}
