import pino, { type Logger } from 'pino';

/** Header and field paths whose values are credentials wherever a log object carries them. */
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["x-amz-security-token"]',
  'req.query.token',
  'req.query.__token__',
  'req.query.hdnts',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  'headers["x-amz-security-token"]',
  'headers["set-cookie"]',
  'query.token',
  'query.__token__',
  'query.hdnts',
  'authorization',
  'cookie',
  'token',
  'secret',
  'signature',
  'secretAccessKey',
  '*.authorization',
  '*.cookie',
  '*.token',
  '*.secret',
  '*.signature',
  '*.secretAccessKey',
];

/** Credentials recognisable by shape inside free text (messages, URLs, error stacks). */
const SECRET_SHAPES: [RegExp, string][] = [
  // A JWS: every JWT header is JSON, so its base64url starts with eyJ. Only at the start of a run of
  // base64url characters: a match tried from every `eyJ` inside one long run took quadratic time
  // (`/eyJeyJeyJ…`, 64 KB: 0.7 s).
  [/(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g, '[redacted]'],
  // The credential segment of player routes: /playback/{token}/ and /secure/{link}/{token}/.
  // (A route pattern's `:token` is left alone.)
  [/(\/playback\/)[^/?#\s":][^/?#\s"]*/g, '$1[redacted]'],
  [/(\/secure\/[^/?#\s"]+\/)[^/?#\s":][^/?#\s"]*/g, '$1[redacted]'],
  // Query parameters and header-like pairs that carry credentials.
  [
    /((?:token|__token__|hdnts|api[_-]?key|x-amz-signature|x-amz-security-token|x-amz-credential|signature|secret)=)[^&\s"',;]+/gi,
    '$1[redacted]',
  ],
  [/(Bearer\s+)[^\s"',]+/gi, '$1[redacted]'],
  // An EdgeAuth token under any configured name: its hmac (raw or percent-encoded `=`).
  [/(hmac(?:=|%3d))[0-9a-f]+/gi, '$1[redacted]'],
  // API keys: kp_<id>_<secret>.
  [/kp_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/g, 'kp_[redacted]'],
];

/** Replaces every credential-shaped substring of `text` (tokens, key URLs' token segment, API keys, signatures). */
export function redactSecrets(text: string): string {
  return SECRET_SHAPES.reduce((out, [shape, replacement]) => out.replace(shape, replacement), text);
}

/** Field names whose value is a credential at any depth (compared lower-case). */
const SECRET_FIELDS = new Set([
  'authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'x-amz-security-token',
  'token',
  'secret',
  'signature',
  'secretaccesskey',
  'password',
]);

function scrubbed(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  // Errors keep their type here; the `err` serializer scrubs their message and stack.
  if (depth > 6 || value === null || typeof value !== 'object' || value instanceof Error) return value;
  if (Array.isArray(value)) return value.map((v) => scrubbed(v, depth + 1));
  if (Buffer.isBuffer(value)) return '[buffer]';
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      SECRET_FIELDS.has(k.toLowerCase()) ? '[redacted]' : scrubbed(v, depth + 1),
    ]),
  );
}

/**
 * The structured logger. Credentials are redacted twice: by field (headers, `token`, `secret`...) and by
 * shape in every string (messages, URLs, error stacks; see redactSecrets), at every level down to `trace`.
 * Key material is never passed to it.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'keyplane' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    formatters: { log: (object) => scrubbed(object, 0) as Record<string, unknown> },
    serializers: { err: (err: Error) => scrubbed(pino.stdSerializers.err(err), 0) },
    hooks: {
      logMethod(args, method) {
        const clean = args.map((a) => (typeof a === 'string' ? redactSecrets(a) : a)) as Parameters<typeof method>;
        method.apply(this, clean);
      },
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };
