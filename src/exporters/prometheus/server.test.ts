import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { loadConfigFiles } from '../../config/load.ts';
import { validateComponentConfig } from '../../config/validate.ts';
import { acceptsGzip, ScrapeBody, SharedBodies } from './body.ts';
import { configSchema } from './config.ts';
import { connectionCap, fdReserve, openFileLimit, type DropReason } from './connections.ts';
import { MetricsServer, TIMEOUTS, type MetricsServerOptions } from './server.ts';

const quiet = pino({ level: 'silent' });

/** A collection the test finishes by hand, shared by concurrent calls as the exporter shares one. */
function manualCollection(text: string): {
  scrape: () => Promise<string>;
  release: () => void;
  calls: () => number;
} {
  let pending: { promise: Promise<string>; resolve: (t: string) => void } | undefined;
  let calls = 0;
  return {
    scrape: () => {
      calls++;
      if (!pending) {
        let resolve: (t: string) => void = () => undefined;
        const promise = new Promise<string>((r) => (resolve = r));
        pending = { promise, resolve };
      }
      return pending.promise;
    },
    release: () => {
      const p = pending;
      pending = undefined;
      p?.resolve(text);
    },
    calls: () => calls,
  };
}

async function serve(
  options: Partial<MetricsServerOptions>,
): Promise<{ server: MetricsServer; port: number }> {
  const server = new MetricsServer({
    host: '127.0.0.1',
    port: 0,
    metricsPath: '/metrics',
    maxRequests: 4,
    scrape: () => Promise.resolve('up 1\n'),
    ready: () => true,
    logger: quiet,
    ...options,
  });
  await server.listen();
  return { server, port: server.address.port };
}

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
  at: number;
}

function get(port: number, headers: Record<string, string> = {}, path = '/metrics'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          at: performance.now(),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** A TCP connection to the port; resolves when connected. */
function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

function closed(s: Socket): Promise<number> {
  return new Promise((resolve) => {
    if (s.destroyed) resolve(performance.now());
    s.resume();
    s.on('close', () => resolve(performance.now()));
    s.on('error', () => undefined);
  });
}

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) assert.fail(`timed out waiting for ${what}`);
    await delay(10);
  }
}

describe('metrics server: max_requests bounds responses, not collections', () => {
  it('beyond the cap: 503 at once, while the admitted scrapes still wait for their collection', async () => {
    const c = manualCollection('series 1\n');
    const { server, port } = await serve({ scrape: c.scrape, maxRequests: 4 });
    try {
      let refused = 0;
      const answers = Array.from({ length: 20 }, () =>
        get(port).then((a) => {
          if (a.status === 503) refused++;
          return a;
        }),
      );
      // The 16 refused are answered while the collection of the 4 admitted still runs.
      await until('16 answers of 503', () => refused === 16);
      assert.equal(server.responses, 4);
      const released = performance.now();
      c.release();
      const all = await Promise.all(answers);
      const statuses = all.map((a) => a.status).sort();
      assert.deepEqual(statuses, [...Array<number>(4).fill(200), ...Array<number>(16).fill(503)]);
      for (const a of all.filter((x) => x.status === 503)) assert.equal(a.headers['retry-after'], '1');
      assert.equal(c.calls(), 4, 'a refused scrape asks for no collection');
      for (const a of all) if (a.status === 200) assert.ok(a.at > released);
      await until('responses back to 0', () => server.responses === 0);
    } finally {
      await server.close();
    }
  });

  it('a client that does not read holds its slot until it goes; then scrapes are served again', async () => {
    const big = `${'x'.repeat(99)}\n`.repeat(200_000); // 20 MB: more than the socket buffers take
    const { server, port } = await serve({ scrape: () => Promise.resolve(big), maxRequests: 1 });
    try {
      const slow = await open(port);
      slow.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
      slow.pause();
      await until('the slow response to start', () => server.responses === 1);
      await delay(200);
      assert.equal(server.responses, 1, 'the unread response still counts');
      assert.equal((await get(port)).status, 503);
      slow.destroy();
      await until('the slot to free', () => server.responses === 0);
      const ok = await get(port);
      assert.equal(ok.status, 200);
      assert.equal(ok.body.length, big.length);
    } finally {
      await server.close();
    }
  });
});

describe('metrics server: one body and one gzip per collection', () => {
  it('requests of one collection share its bytes and its gzip (made once)', async () => {
    const bodies = new SharedBodies();
    const collection = Promise.resolve('a 1\n'.repeat(1000));
    const [a, b] = await Promise.all([bodies.of(collection), bodies.of(collection)]);
    assert.equal(a, b);
    assert.equal(a.gzipped(), b.gzipped(), 'one compression');
    assert.equal(gunzipSync(await a.gzipped()).toString(), 'a 1\n'.repeat(1000));
    const other = await bodies.of(Promise.resolve('a 1\n'.repeat(1000)));
    assert.notEqual(other, a, 'a new collection, a new body');
    const one = new ScrapeBody('é');
    assert.ok(Buffer.concat(one.chunks).equals(Buffer.from('é')));
    assert.equal(one.length, 2);
  });

  it('a body given as chunks is served whole, plain and gzipped, with its length', async () => {
    const parts = ['# HELP a x\n# TYPE a counter\n', 'a{x="é"} 1\n'.repeat(3000), 'b 2\n'];
    const text = parts.join('');
    const chunks = parts.map((p) => Buffer.from(p));
    const { server, port } = await serve({ scrape: () => Promise.resolve(chunks), maxRequests: 2 });
    try {
      const plain = await get(port);
      assert.equal(plain.headers['content-length'], String(Buffer.byteLength(text)));
      assert.equal(plain.body.toString(), text);
      const gz = await get(port, { 'accept-encoding': 'gzip' });
      assert.equal(gunzipSync(gz.body).toString(), text);
    } finally {
      await server.close();
    }
  });

  it('concurrent gzip scrapes get identical bytes; gzip;q=0 gets none', async () => {
    const text = 'metric_a{x="1"} 1\n'.repeat(5000);
    const c = manualCollection(text);
    const { server, port } = await serve({ scrape: c.scrape, maxRequests: 10 });
    try {
      const gz = Array.from({ length: 5 }, () => get(port, { 'accept-encoding': 'gzip' }));
      const q0 = get(port, { 'accept-encoding': 'gzip;q=0, identity' });
      await until('six waiting', () => server.responses === 6);
      c.release();
      const answers = await Promise.all(gz);
      for (const a of answers) {
        assert.equal(a.headers['content-encoding'], 'gzip');
        assert.ok(a.body.equals(answers[0]?.body as Buffer));
      }
      assert.equal(gunzipSync(answers[0]?.body as Buffer).toString(), text);
      const plain = await q0;
      assert.equal(plain.headers['content-encoding'], undefined);
      assert.equal(plain.body.toString(), text);
    } finally {
      await server.close();
    }
  });

  it('Accept-Encoding q-values (RFC 9110)', () => {
    const cases: [string | undefined, boolean][] = [
      [undefined, false],
      ['', false],
      ['gzip', true],
      ['GZIP', true],
      ['x-gzip', true],
      ['deflate, gzip;q=1.0, *;q=0.5', true],
      ['gzip;q=0', false],
      ['gzip; q=0.000', false],
      ['gzip;q=0.001', true],
      ['gzip;q=0, *', false],
      ['*', true],
      ['*;q=0', false],
      ['identity', false],
      ['br, deflate', false],
      ['gzip;q=2', false],
      ['gzip;q=abc', false],
      ['gzipx', false],
      ['gzip;level=1', true],
    ];
    for (const [header, want] of cases) assert.equal(acceptsGzip(header), want, `${header}`);
  });
});

describe('metrics server: connections', () => {
  it('headersTimeout closes a slow client at its value (10 s, checked every second)', async () => {
    const { server, port } = await serve({});
    try {
      const s = await open(port);
      const t0 = performance.now();
      s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
      const drip = setInterval(() => s.write('X-Slow: 1\r\n'), 500);
      let answer = '';
      s.on('data', (d: Buffer) => (answer += d.toString()));
      const t1 = await closed(s);
      clearInterval(drip);
      const secs = (t1 - t0) / 1000;
      console.log(
        `slow client closed after ${secs.toFixed(2)} s (headersTimeout ${TIMEOUTS.headersMs / 1000} s)`,
      );
      assert.match(answer, /^HTTP\/1\.1 408/);
      assert.ok(secs >= 9.9 && secs < 12, `closed after ${secs} s`);
    } finally {
      await server.close();
    }
  });

  it('a connection that never sends a request is closed after the silent timeout', async () => {
    const drops: DropReason[] = [];
    const { server, port } = await serve({
      timeouts: { silentMs: 800 },
      onConnectionDrop: (r) => drops.push(r),
    });
    try {
      const s = await open(port);
      const t0 = performance.now();
      const secs = ((await closed(s)) - t0) / 1000;
      assert.ok(secs >= 0.7 && secs < 3, `closed after ${secs} s`);
      assert.deepEqual(drops, ['silent']);
      assert.equal((await get(port)).status, 200, 'others are served');
    } finally {
      await server.close();
    }
  });

  it('at max_connections a new connection evicts the least recently used idle one; a scrape still gets in', async () => {
    const drops: DropReason[] = [];
    const { server, port } = await serve({ maxConnections: 5, onConnectionDrop: (r) => drops.push(r) });
    try {
      assert.equal(server.connectionCap, 5);
      const idle: Socket[] = [];
      for (let i = 0; i < 5; i++) idle.push(await open(port));
      await until('five held', () => server.connections === 5);
      const first = closed(idle[0] as Socket);
      const a = await get(port);
      assert.equal(a.status, 200);
      await first; // the oldest went
      assert.deepEqual(drops, ['evicted']);
      assert.ok(server.connections <= 5);
      for (const s of idle) s.destroy();
    } finally {
      await server.close();
    }
  });

  it('with every connection busy, a new one is refused', async () => {
    const drops: DropReason[] = [];
    const c = manualCollection('x 1\n');
    const { server, port } = await serve({
      scrape: c.scrape,
      maxConnections: 2,
      onConnectionDrop: (r) => drops.push(r),
    });
    try {
      const busy = [get(port), get(port)];
      await until('two responses waiting', () => server.responses === 2);
      const third = await open(port);
      await closed(third);
      assert.deepEqual(drops, ['refused']);
      c.release();
      assert.deepEqual(
        (await Promise.all(busy)).map((a) => a.status),
        [200, 200],
      );
    } finally {
      await server.close();
    }
  });

  it('the cap leaves a reserve of fds: RLIMIT_NOFILE minus max(256, a quarter)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'limits-'));
    try {
      const f = join(dir, 'limits');
      writeFileSync(
        f,
        'Limit                     Soft Limit           Hard Limit           Units     \n' +
          'Max open files            20000                20000                files     \n',
      );
      assert.equal(openFileLimit(f), 20000);
      writeFileSync(f, 'Max open files            unlimited            unlimited            files\n');
      assert.equal(openFileLimit(f), undefined);
      assert.equal(openFileLimit(join(dir, 'missing')), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(fdReserve(20000), 5000);
    assert.equal(fdReserve(1024), 256);
    assert.equal(connectionCap(100_000, 20000), 15000);
    assert.equal(connectionCap(1024, 20000), 1024);
    assert.equal(connectionCap(1024, 1024), 768);
    assert.equal(connectionCap(1024, 100), 1);
    assert.equal(connectionCap(1024, undefined), 1024);
    assert.ok((openFileLimit() ?? 0) > 0, 'this process has a limit');
  });

  it('the gate forgets closed connections', async () => {
    const { server, port } = await serve({});
    try {
      const s = await open(port);
      await until('held', () => server.connections === 1);
      s.destroy();
      await until('forgotten', () => server.connections === 0);
    } finally {
      await server.close();
    }
  });
});

describe('prometheus config: paths and limits', () => {
  it('metrics_path on a path the agent serves is a positioned config error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'prom-path-'));
    try {
      const file = join(dir, 'c.yaml');
      writeFileSync(
        file,
        [
          'exporters:',
          '  prometheus:',
          '    metrics_path: /healthz',
          '  prometheus/b:',
          '    metrics_path: /maps',
          '    maps_endpoint: true',
          '  prometheus/c:',
          '    metrics_path: /maps',
          '    max_connections: 0',
          '',
        ].join('\n'),
      );
      const loaded = await loadConfigFiles([file], {});
      const lines = (id: string): string[] =>
        validateComponentConfig(configSchema, loaded, ['exporters', id]).errors.map((e) => e.format());
      assert.deepEqual(lines('prometheus'), [
        `${file}:3:19: exporters.prometheus.metrics_path: /healthz is served by the agent itself (so are /healthz, /readyz, /status); choose another path, e.g. /metrics [ERR_CONFIG_VALUE]`,
      ]);
      assert.match(lines('prometheus/b')[0] ?? '', /:5:19: .*\/maps is served by the agent itself/);
      assert.deepEqual(
        lines('prometheus/c').map((l) => l.replace(file, '')),
        [':9:22: exporters.prometheus/c.max_connections: expected a value > 0, got 0 [ERR_CONFIG_VALUE]'],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
