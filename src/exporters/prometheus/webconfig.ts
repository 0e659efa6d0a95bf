/**
 * Prometheus's web configuration (the exporter-toolkit format that node_exporter and
 * ebpf_exporter read with `--web.config.file`): TLS for the endpoint, client certificates,
 * bcrypt basic auth and response headers. The schema is strict like the toolkit's own
 * decoding: an unknown key is an error at its position. Names of versions, cipher suites
 * and curves are Go's (crypto/tls), mapped here to OpenSSL's.
 */
import { z } from 'zod';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import { describeInput, listOf, quote, suggestion } from '../../config/describe.ts';
import { configIssue, encodedAs, secret } from '../../config/types.ts';

/** Go's names → Node's. TLS 1.0 and 1.1 are known so that they get their own refusal. */
const TLS_VERSIONS = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const;
type GoTlsVersion = keyof typeof TLS_VERSIONS;
export type NodeTlsVersion = 'TLSv1.2' | 'TLSv1.3';

function tlsVersion(): z.ZodType<NodeTlsVersion, unknown> {
  const accepted = ['TLS12', 'TLS13'];
  const written = (v: NodeTlsVersion): string => (v === 'TLSv1.2' ? 'TLS12' : 'TLS13');
  return encodedAs(
    written,
    z.unknown().transform((input, ctx): NodeTlsVersion => {
      if (typeof input !== 'string')
        return configIssue(ctx, input, C.type, `expected "TLS12" or "TLS13", got ${describeInput(input)}`);
      if (input === 'TLS10' || input === 'TLS11') {
        return configIssue(
          ctx,
          input,
          C.value,
          `${input} is refused: TLS 1.0 and 1.1 are deprecated (RFC 8996) and this endpoint speaks TLS 1.2 or newer; use TLS12 or TLS13`,
        );
      }
      if (!accepted.includes(input))
        return configIssue(
          ctx,
          input,
          C.enum,
          `expected one of ${listOf(accepted)}, got ${quote(input)}${suggestion(input, accepted)}`,
        );
      return TLS_VERSIONS[input as GoTlsVersion] as NodeTlsVersion;
    }),
    { type: 'string', enum: accepted },
  );
}

/**
 * Cipher suites Go's `tls.CipherSuites()` lists (the ones exporter-toolkit accepts without
 * the insecure list). TLS 1.3 suites are accepted and, as in Go, not configurable: the
 * list applies to TLS 1.2.
 */
const CIPHER_SUITES: Readonly<Record<string, string | null>> = {
  TLS_AES_128_GCM_SHA256: null,
  TLS_AES_256_GCM_SHA384: null,
  TLS_CHACHA20_POLY1305_SHA256: null,
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
};

/** Go's curve names → OpenSSL's group names. */
const CURVES: Readonly<Record<string, string>> = {
  CurveP256: 'P-256',
  CurveP384: 'P-384',
  CurveP521: 'P-521',
  X25519: 'X25519',
};

/** One of `names`' keys, with a suggestion when not. */
function goName(what: string, names: Readonly<Record<string, unknown>>): z.ZodType<string, unknown> {
  const known = Object.keys(names);
  return z.unknown().transform((input, ctx): string => {
    if (typeof input !== 'string')
      return configIssue(ctx, input, C.type, `expected a ${what} name, got ${describeInput(input)}`);
    if (!known.includes(input))
      return configIssue(
        ctx,
        input,
        C.enum,
        `unknown ${what} ${quote(input)}${suggestion(input, known)}; expected one of ${listOf(known)}`,
      );
    return input;
  });
}

export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

const path = z.string().min(1, 'give a path or remove the key');
const pem = (): z.ZodString => z.string().min(1, 'give PEM text or remove the key');

const tlsServerSchema = z.strictObject({
  /** Inline PEM certificate (instead of cert_file). */
  cert: pem().optional(),
  /** Inline PEM private key (instead of key_file). */
  key: secret(pem()).optional(),
  /** Inline PEM CA bundle for client certificates (instead of client_ca_file). */
  client_ca: pem().optional(),
  cert_file: path.optional(),
  key_file: path.optional(),
  client_ca_file: path.optional(),
  client_auth_type: z.enum(CLIENT_AUTH_TYPES).default('NoClientCert'),
  /** The client certificate must carry one of these SANs (DNS, IP, e-mail or URI), exactly. */
  client_allowed_sans: z.array(z.string().min(1)).optional(),
  min_version: tlsVersion().default('TLSv1.2'),
  max_version: tlsVersion().default('TLSv1.3'),
  cipher_suites: z.array(goName('cipher suite', CIPHER_SUITES)).optional(),
  prefer_server_cipher_suites: z.boolean().default(true),
  curve_preferences: z.array(goName('curve', CURVES)).min(1).optional(),
});

/** The response headers exporter-toolkit lets one set, with the values it accepts. */
const headersSchema = z.strictObject({
  'Content-Security-Policy': secret(z.string()).optional(),
  'X-Frame-Options': secret(
    z.string().regex(/^(deny|sameorigin)$/i, 'X-Frame-Options takes "deny" or "sameorigin"'),
  ).optional(),
  'X-Content-Type-Options': secret(
    z.string().regex(/^nosniff$/i, 'X-Content-Type-Options takes "nosniff"'),
  ).optional(),
  'X-XSS-Protection': secret(z.string()).optional(),
  'Strict-Transport-Security': secret(z.string()).optional(),
});

/** `$2$`, `$2a$`, `$2b$` or `$2y$`, a two-digit cost, 22 characters of salt and 31 of hash. */
const BCRYPT = /^\$2[aby]?\$\d\d\$[./A-Za-z0-9]{53}$/;

const bcryptHash = secret(
  z.string().regex(BCRYPT, {
    error: () =>
      'expected a bcrypt hash like "$2y$10$…" (60 characters; make one with `htpasswd -nBC 10 "" | tr -d \':\\n\'`)',
  }),
);

const userName = z
  .string()
  .min(1, 'a user name must not be empty')
  // eslint-disable-next-line no-control-regex
  .regex(/^[^:\x00-\x1f\x7f]*$/, 'a user name must not contain ":" or control characters');

export const webConfigSchema = z
  .strictObject({
    tls_server_config: tlsServerSchema.optional(),
    http_server_config: z
      .strictObject({
        /** HTTP/2 is not served (HTTP/1.1 only); accepted so toolkit files load. */
        http2: z.boolean().default(true),
        headers: headersSchema.optional(),
      })
      .optional(),
    /** User → bcrypt hash of the password. Empty: no basic auth. */
    basic_auth_users: z.record(userName, bcryptHash).optional(),
    rate_limit: z
      .unknown()
      .optional()
      .superRefine((v, ctx) => {
        if (v !== undefined)
          configIssue(
            ctx,
            v,
            C.value,
            'rate_limit is not supported here; the exporter setting max_requests bounds concurrent scrapes',
          );
      }),
  })
  .superRefine((c, ctx) => {
    const tls = c.tls_server_config;
    const issue = (p: (string | number)[], input: unknown, message: string): void => {
      ctx.addIssue({ code: 'custom', path: p, input, message, params: { configCode: C.value } });
    };
    if (!tls) return;
    const t = ['tls_server_config'];
    for (const [inline, file] of [
      ['cert', 'cert_file'],
      ['key', 'key_file'],
      ['client_ca', 'client_ca_file'],
    ] as const) {
      if (tls[inline] !== undefined && tls[file] !== undefined)
        issue([...t, inline], '', `give ${inline} or ${file}, not both`);
    }
    const hasCert = tls.cert !== undefined || tls.cert_file !== undefined;
    const hasKey = tls.key !== undefined || tls.key_file !== undefined;
    if (!hasCert) issue(t, tls, 'TLS needs a certificate: give cert_file (or cert)');
    if (!hasKey) issue(t, tls, 'TLS needs a private key: give key_file (or key)');
    const hasCa = tls.client_ca !== undefined || tls.client_ca_file !== undefined;
    const verifies =
      tls.client_auth_type === 'VerifyClientCertIfGiven' ||
      tls.client_auth_type === 'RequireAndVerifyClientCert';
    if (verifies && !hasCa)
      issue(
        [...t, 'client_auth_type'],
        tls.client_auth_type,
        `${tls.client_auth_type} verifies client certificates: give client_ca_file (or client_ca)`,
      );
    if (hasCa && !verifies)
      issue(
        [...t, tls.client_ca_file !== undefined ? 'client_ca_file' : 'client_ca'],
        '',
        `a client CA is set but client_auth_type is ${tls.client_auth_type}, which does not verify client certificates; set client_auth_type: RequireAndVerifyClientCert`,
      );
    if (
      tls.client_allowed_sans !== undefined &&
      tls.client_auth_type !== 'RequireAnyClientCert' &&
      tls.client_auth_type !== 'RequireAndVerifyClientCert'
    )
      issue(
        [...t, 'client_allowed_sans'],
        tls.client_allowed_sans,
        'client_allowed_sans needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert (otherwise a client may send no certificate)',
      );
    if (tls.min_version === 'TLSv1.3' && tls.max_version === 'TLSv1.2')
      issue([...t, 'max_version'], 'TLS12', 'max_version is lower than min_version');
  });

export type WebConfig = z.output<typeof webConfigSchema>;
export type TlsServerConfig = NonNullable<WebConfig['tls_server_config']>;

/** OpenSSL's cipher list for `cipher_suites` (TLS 1.2 suites; undefined: Node's defaults). */
export function opensslCiphers(suites: readonly string[] | undefined): string | undefined {
  if (!suites) return undefined;
  const names = suites.map((s) => CIPHER_SUITES[s]).filter((s): s is string => typeof s === 'string');
  return names.length > 0 ? names.join(':') : undefined;
}

/** OpenSSL's group list for `curve_preferences` (undefined: Node's defaults). */
export function opensslCurves(curves: readonly string[] | undefined): string | undefined {
  return curves ? curves.map((c) => CURVES[c] as string).join(':') : undefined;
}
