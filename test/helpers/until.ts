/** Polling for a condition in tests. */
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Resolves once `cond()` holds, looking again every `pollMs` (work on the event loop, such as
 * inotify events or a peer's answers, runs in between); throws `timed out waiting for <what>`
 * after `timeoutMs`.
 */
export async function until(cond: () => boolean, what: string, timeoutMs = 5_000, pollMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(pollMs);
  }
}
