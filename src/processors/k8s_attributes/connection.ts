import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

/**
 * How to reach the API server: a base URL, TLS material, and the bearer
 * token. A token file is re-read for every request: projected service-account
 * tokens are rotated by the kubelet (they expire after about an hour).
 */
export interface KubeConnection {
  readonly baseUrl: URL;
  readonly ca?: Buffer | undefined;
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
  readonly insecureSkipTlsVerify?: boolean | undefined;
  readonly token?: string | undefined;
  readonly tokenFile?: string | undefined;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** In-cluster: the service's address from the environment, the mounted token and CA. */
export function inClusterConnection(
  env: NodeJS.ProcessEnv = process.env,
  dir = SERVICE_ACCOUNT_DIR,
): KubeConnection {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  if (!host || !port) {
    throw new Error('not running in a cluster: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set');
  }
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    baseUrl: new URL(`https://${hostPart}:${port}`),
    ca: readFileSync(`${dir}/ca.crt`),
    tokenFile: `${dir}/token`,
  };
}

interface Named<T> {
  name?: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}

/**
 * A kubeconfig's cluster and user for one context. Supports server, CA (file
 * or data), insecure-skip-tls-verify, token, tokenFile, client certificate and
 * key (file or data). exec and auth-provider plugins are not supported.
 */
export function kubeconfigConnection(path?: string, context?: string): KubeConnection {
  const file =
    path ?? process.env['KUBECONFIG']?.split(':').find((p) => p !== '') ?? `${homedir()}/.kube/config`;
  const base = dirname(resolve(file));
  const doc = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown> | null;
  if (!doc || typeof doc !== 'object') throw new Error(`kubeconfig ${file}: not a map`);
  const pick = (list: unknown, name: unknown, what: string): Record<string, unknown> => {
    const found = (Array.isArray(list) ? (list as Named<Record<string, unknown>>[]) : []).find(
      (e) => e.name === name,
    );
    const inner = found?.cluster ?? found?.user ?? found?.context;
    if (!inner) throw new Error(`kubeconfig ${file}: no ${what} named ${JSON.stringify(name)}`);
    return inner;
  };
  const ctxName = context ?? doc['current-context'];
  if (typeof ctxName !== 'string' || ctxName === '') {
    throw new Error(`kubeconfig ${file}: no current-context and no context configured`);
  }
  const ctx = pick(doc['contexts'], ctxName, 'context');
  const cluster = pick(doc['clusters'], ctx['cluster'], 'cluster');
  const user = ctx['user'] === undefined ? {} : pick(doc['users'], ctx['user'], 'user');
  if (user['exec'] !== undefined || user['auth-provider'] !== undefined) {
    throw new Error(
      `kubeconfig ${file}: user ${String(ctx['user'])}: exec and auth-provider are not supported`,
    );
  }
  const server = cluster['server'];
  if (typeof server !== 'string') throw new Error(`kubeconfig ${file}: cluster has no server`);
  const material = (dataKey: string, fileKey: string, from: Record<string, unknown>): Buffer | undefined => {
    const data = from[dataKey];
    if (typeof data === 'string') return Buffer.from(data, 'base64');
    const f = from[fileKey];
    return typeof f === 'string' ? readFileSync(resolve(base, f)) : undefined;
  };
  const tokenFile = user['tokenFile'];
  return {
    baseUrl: new URL(server),
    ca: material('certificate-authority-data', 'certificate-authority', cluster),
    cert: material('client-certificate-data', 'client-certificate', user),
    key: material('client-key-data', 'client-key', user),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    token: typeof user['token'] === 'string' ? user['token'] : undefined,
    tokenFile: typeof tokenFile === 'string' ? resolve(base, tokenFile) : undefined,
  };
}

export interface GetOptions {
  readonly signal: AbortSignal;
  /** Abort when no response headers came within this time. */
  readonly headersTimeoutMs: number;
}

/**
 * GET `pathAndQuery` and resolve with the response once its headers arrive
 * (any status; the caller reads the body). Rejects on connection errors.
 */
export function get(
  conn: KubeConnection,
  pathAndQuery: string,
  opts: GetOptions,
): Promise<http.IncomingMessage> {
  const url = new URL(pathAndQuery, conn.baseUrl);
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'ebpf-collector' };
  const token = conn.tokenFile ? readFileSync(conn.tokenFile, 'utf8').trim() : conn.token;
  if (token) headers['authorization'] = `Bearer ${token}`;
  return new Promise((resolvePromise, reject) => {
    const common = { method: 'GET', headers, signal: opts.signal };
    const req =
      url.protocol === 'https:'
        ? https.request(url, {
            ...common,
            ca: conn.ca,
            cert: conn.cert,
            key: conn.key,
            rejectUnauthorized: !conn.insecureSkipTlsVerify,
          })
        : http.request(url, common);
    const timer = setTimeout(() => {
      req.destroy(new Error(`no response within ${opts.headersTimeoutMs} ms`));
    }, opts.headersTimeoutMs);
    req.on('response', (res) => {
      clearTimeout(timer);
      resolvePromise(res);
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

/** The whole body as text, at most `limit` bytes. */
export async function readBody(res: http.IncomingMessage, limit = 256 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) {
      res.destroy();
      throw new Error(`response larger than ${limit} bytes`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}
