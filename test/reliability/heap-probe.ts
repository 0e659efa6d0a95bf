import { setTimeout as delay } from 'node:timers/promises';

/**
 * The V8 heap of another Node process after a full GC, through its inspector (the process
 * runs with `--inspect=127.0.0.1:0`; its stderr names the WebSocket URL): the live JS heap,
 * which a leak grows and allocator or GC behaviour does not.
 */
export class HeapProbe {
  private readonly ws: WebSocket;
  private next = 1;
  private readonly waiting = new Map<number, (result: unknown) => void>();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener('message', (ev: MessageEvent) => {
      const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown; error?: unknown };
      if (msg.id === undefined) return;
      this.waiting.get(msg.id)?.(msg.error === undefined ? msg.result : { error: msg.error });
      this.waiting.delete(msg.id);
    });
  }

  /** Connects to the inspector whose URL the process logged (waits up to 10 s for the line). */
  static async connect(logs: readonly string[]): Promise<HeapProbe> {
    for (let i = 0; i < 100; i++) {
      const url = logs.map((l) => /Debugger listening on (ws:\/\/\S+)/.exec(l)?.[1]).find(Boolean);
      if (url !== undefined) {
        const ws = new WebSocket(url);
        await new Promise<void>((resolve, reject) => {
          ws.addEventListener('open', () => resolve(), { once: true });
          ws.addEventListener('error', () => reject(new Error(`inspector ${url}: connect failed`)), {
            once: true,
          });
        });
        return new HeapProbe(ws);
      }
      await delay(100);
    }
    throw new Error('the process logged no inspector URL');
  }

  private call(method: string): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.ws.send(JSON.stringify({ id, method }));
    });
  }

  /** MiB of live JS heap after a full (forced) GC. */
  async heapAfterGcMiB(): Promise<number> {
    await this.call('HeapProfiler.collectGarbage');
    const usage = (await this.call('Runtime.getHeapUsage')) as { usedSize?: number };
    if (typeof usage.usedSize !== 'number') throw new Error(`Runtime.getHeapUsage: ${JSON.stringify(usage)}`);
    return usage.usedSize / 2 ** 20;
  }

  close(): void {
    this.ws.close();
  }
}
