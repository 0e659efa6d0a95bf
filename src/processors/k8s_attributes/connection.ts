import { existsSync } from 'node:fs';
import http from 'node:http';
import type https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/**
 * How to reach the API server. Credentials come from `@kubernetes/client-node`'s KubeConfig, which
 * knows every way a kubeconfig authenticates (tokens, token files, client certificates, `exec`
 * credential plugins as EKS and GKE use, auth providers, proxies); our code only issues the
 * requests (the list/watch logic is ours: see pod-watcher.ts).
 */
export interface KubeConnection {
  readonly server: URL;
  /** TLS material, headers (Authorization) and agent for one request, resolved when it is made. */
  requestOptions(): Promise<https.RequestOptions>;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The KubeConfig class, loaded on first use: importing @kubernetes/client-node loads its whole
 * generated API (measured: 1.6 s and +90 MB RSS), which an agent without k8s_attributes never needs.
 */
let kubeConfigClass: Promise<typeof KubeConfig> | undefined;
async function newKubeConfig(): Promise<KubeConfig> {
  kubeConfigClass ??= import('@kubernetes/client-node').then((m) => m.KubeConfig);
  return new (await kubeConfigClass)();
}

function connectionOf(kc: KubeConfig, describe: string): KubeConnection {
  const cluster = kc.getCurrentCluster();
  if (!cluster)
    throw new Error(`${describe}: no cluster for context ${JSON.stringify(kc.getCurrentContext())}`);
  const server = new URL(cluster.server);
  return {
    server,
    requestOptions: async () => {
      const opts: https.RequestOptions = { headers: {} };
      await kc.applyToHTTPSOptions(opts);
      return opts;
    },
  };
}

/**
 * In-cluster: the API server's address from KUBERNETES_SERVICE_HOST/PORT, the CA and the
 * projected service-account token from the mounted files (KubeConfig.loadFromCluster). A new
 * KubeConfig is made for every request, so a token the kubelet rotated (about hourly) and a
 * renewed CA are read by the next request (one KubeConfig re-reads a token file only after 60 s).
 * `root` prefixes the mounted paths (tests).
 */
export async function inClusterConnection(root = ''): Promise<KubeConnection> {
  if (!process.env['KUBERNETES_SERVICE_HOST'] || !process.env['KUBERNETES_SERVICE_PORT']) {
    throw new Error('not running in a cluster: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set');
  }
  if (!existsSync(`${root}${SERVICE_ACCOUNT_DIR}/token`)) {
    throw new Error(
      `no service-account token at ${root}${SERVICE_ACCOUNT_DIR}/token (automountServiceAccountToken: false?)`,
    );
  }
  const load = async (): Promise<KubeConnection> => {
    const kc = await newKubeConfig();
    kc.loadFromCluster(root);
    return connectionOf(kc, 'in-cluster');
  };
  const { server } = await load();
  return { server, requestOptions: async () => (await load()).requestOptions() };
}

/**
 * A kubeconfig file (default $KUBECONFIG, then ~/.kube/config) and one of its contexts (default
 * its current-context). One KubeConfig serves every request of a connection, so an `exec`
 * plugin's credential is reused until it expires.
 */
export async function kubeconfigConnection(path?: string, context?: string): Promise<KubeConnection> {
  const kc = await newKubeConfig();
  const file = path ?? process.env['KUBECONFIG']?.split(':').find((p) => p !== '');
  if (file !== undefined) kc.loadFromFile(file);
  else kc.loadFromDefault();
  const describe = `kubeconfig ${file ?? '~/.kube/config'}`;
  if (context !== undefined) {
    if (!kc.getContextObject(context))
      throw new Error(`${describe}: no context named ${JSON.stringify(context)}`);
    kc.setCurrentContext(context);
  } else if (!kc.getCurrentContext()) {
    throw new Error(`${describe}: no current-context and no context configured`);
  }
  return connectionOf(kc, describe);
}

/** `auth_type: none`: the endpoint as it is (e.g. kubectl proxy), no credentials. */
export function plainConnection(endpoint: string): KubeConnection {
  const server = new URL(endpoint);
  return { server, requestOptions: async () => ({ headers: {} }) };
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
export async function get(
  conn: KubeConnection,
  pathAndQuery: string,
  opts: GetOptions,
): Promise<http.IncomingMessage> {
  const url = new URL(pathAndQuery, conn.server);
  const base = await conn.requestOptions();
  const headers = {
    ...(base.headers as Record<string, string>),
    accept: 'application/json',
    'user-agent': 'ebpf-collector',
  };
  return new Promise((resolvePromise, reject) => {
    const options = { ...base, method: 'GET', headers, signal: opts.signal };
    // node:https (and tls) load with the first request to an https API server, not with the agent.
    const req =
      url.protocol === 'https:'
        ? process.getBuiltinModule('node:https').request(url, options)
        : http.request(url, options);
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
