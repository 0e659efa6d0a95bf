import type { IncomingMessage, ServerResponse } from 'node:http';
import { wantsJson } from '../pipeline/health-body.ts';
import { statusHtml, STATUS_CSP } from './html.ts';
import type { AgentStatus } from './model.ts';

/** Answer GET/HEAD /status: the page, or the same model as JSON. */
export function serveStatus(req: IncomingMessage, res: ServerResponse, status: () => AgentStatus): void {
  const model = status();
  const json = wantsJson(req.headers.accept);
  const body = json ? `${JSON.stringify(model, null, 2)}\n` : statusHtml(model);
  const headers: Record<string, string> = {
    'content-type': json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    vary: 'Accept',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
  if (!json) headers['content-security-policy'] = STATUS_CSP;
  res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : body);
}
