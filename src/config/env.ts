/** `${env:…}` expansion in config string values. */
// ---------------------------------------------------------------------------------------
// ${env:…}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type Expansion =
  { ok: true; value: string; whole: boolean } | { ok: false; message: string; ref: string };

/**
 * Expand `${env:NAME}` and `${env:NAME:-default}` (default when unset or empty), `$$` → `$`.
 * A `$` before anything else stays as written. Values are inserted as they are (not expanded
 * again). `whole` is true when the string is exactly one reference.
 */
export function expandEnv(raw: string, env: NodeJS.ProcessEnv): Expansion {
  if (!raw.includes('$')) return { ok: true, value: raw, whole: false };
  let out = '';
  let refs = 0;
  let i = 0;
  while (i < raw.length) {
    const ch = raw[i];
    if (ch !== '$') {
      out += ch;
      i++;
      continue;
    }
    const next = raw[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next !== '{') {
      out += '$';
      i++;
      continue;
    }
    const close = raw.indexOf('}', i + 2);
    if (close < 0) {
      return {
        ok: false,
        ref: raw.slice(i),
        message: `unterminated reference "${raw.slice(i)}"; close it with "}"`,
      };
    }
    const ref = raw.slice(i, close + 1);
    const inner = raw.slice(i + 2, close);
    if (!inner.startsWith('env:')) {
      return {
        ok: false,
        ref,
        message: `unsupported reference "${ref}"; use \${env:NAME} or \${env:NAME:-default}, or $$ for a literal $`,
      };
    }
    const body = inner.slice(4);
    const sep = body.indexOf(':-');
    const name = sep >= 0 ? body.slice(0, sep) : body;
    const fallback = sep >= 0 ? body.slice(sep + 2) : undefined;
    if (!ENV_NAME.test(name)) {
      return {
        ok: false,
        ref,
        message: `invalid environment variable name "${name}" in "${ref}"; names are letters, digits and _`,
      };
    }
    const v = env[name];
    if (v === undefined || v === '') {
      if (fallback !== undefined) out += fallback;
      else if (v === undefined) {
        return {
          ok: false,
          ref,
          message: `environment variable ${name} is not set; set it or give a default: \${env:${name}:-value}`,
        };
      }
    } else {
      out += v;
    }
    refs++;
    i = close + 1;
  }
  const whole = refs === 1 && /^\$\{env:[^}]*\}$/.test(raw);
  return { ok: true, value: out, whole };
}

export function typedScalar(s: string): unknown {
  if (/^[-+]?[0-9]+$/.test(s)) {
    const n = Number(s);
    return Number.isSafeInteger(n) ? n : s;
  }
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(s)) return Number(s);
  if (/^(true|True|TRUE)$/.test(s)) return true;
  if (/^(false|False|FALSE)$/.test(s)) return false;
  return s;
}
