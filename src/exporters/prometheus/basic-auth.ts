import { createHash } from 'node:crypto';

/**
 * bcryptjs, loaded at the first check: an agent without basic auth never loads it (its
 * `import crypto from 'crypto'` builds the crypto facade, which loads WebCrypto too; ~0.7 MB).
 */
let bcryptjs: Promise<typeof import('bcryptjs').default> | undefined;
const loadBcrypt = (): Promise<typeof import('bcryptjs').default> =>
  (bcryptjs ??= import('bcryptjs').then((m) => m.default));

/** Checks remembered (exporter-toolkit keeps 100 too): scrapes with the same credentials cost no bcrypt. */
const CACHE_SIZE = 100;
/** bcrypt runs at once at most (each ~150 ms of CPU at cost 10 here); more get 'busy' instead of queueing CPU. */
const MAX_RUNNING = 8;
/**
 * Compared against when the user is unknown, so an unknown user costs what a wrong password
 * does (the hash of random text nobody kept).
 */
const UNKNOWN_USER_HASH = '$2y$10$P9Ie2tn8VRKQIoWDXnvZB.V7/tsJT4Nrt.fj5ow9ydPFIfAMhxeO6';

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** The user and password of an `Authorization: Basic …` header, or undefined. */
export function basicCredentials(header: string | undefined): Credentials | undefined {
  const m = header === undefined ? null : /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header);
  if (!m) return undefined;
  const text = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * bcrypt basic auth over a users table that may change (the web config is re-read).
 * Results are cached by a digest of user, hash and password (never the password
 * itself), bounded, least recently used out first; concurrent checks of the same
 * credentials share one bcrypt run.
 */
export class BasicAuth {
  private readonly cache = new Map<string, boolean>();
  private readonly inflight = new Map<string, Promise<boolean>>();

  /**
   * Whether the header carries a user of `users` with the right password; 'busy' when
   * MAX_RUNNING other credentials are being checked (answer 503 and let the client retry).
   */
  async check(users: ReadonlyMap<string, string>, header: string | undefined): Promise<boolean | 'busy'> {
    const creds = basicCredentials(header);
    if (!creds) return false;
    const hash = users.get(creds.user);
    const key = createHash('sha256')
      .update(`${creds.user}\0${hash ?? ''}\0${creds.password}`)
      .digest('base64');
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.cache.delete(key);
      this.cache.set(key, cached);
      return cached;
    }
    let running = this.inflight.get(key);
    if (!running) {
      if (this.inflight.size >= MAX_RUNNING) return 'busy';
      running = loadBcrypt()
        .then((bcrypt) => bcrypt.compare(creds.password, hash ?? UNKNOWN_USER_HASH))
        .then((ok) => ok && hash !== undefined)
        .catch(() => false)
        .then((ok) => {
          this.inflight.delete(key);
          this.cache.set(key, ok);
          if (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
          return ok;
        });
      this.inflight.set(key, running);
    }
    return running;
  }

  /** Cached results (for tests). */
  get cached(): number {
    return this.cache.size;
  }
}
