import type { HttpRequest } from '@smithy/types';
import { headerOf, type CredentialSource } from './credential-source';
import { AccessDeniedError } from './delivery-errors';

const ALGORITHM = 'AWS4-HMAC-SHA256';
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const SIGNATURE = /^[0-9a-f]{64}$/;
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

/** What a SigV4-signed request claims: who signed it, when, for which scope, over which headers. */
export interface SigV4Claim {
  accessKeyId: string;
  /** The `x-amz-date` (or `X-Amz-Date` query) value, `YYYYMMDDTHHMMSSZ`. */
  amzDate: string;
  signingDate: Date;
  scopeDate: string;
  region: string;
  service: string;
  terminator: string;
  signedHeaders: string[];
  signature: string;
  /** Set for presigned URLs (`X-Amz-Signature` in the query): their lifetime in seconds. */
  expiresIn?: number;
}

const malformed = (what: string) => new AccessDeniedError('malformed_signature', `Malformed SigV4 request: ${what}`);

/** The query string exactly as received (without `?`). */
function rawQuery(req: CredentialSource): string {
  const at = req.originalUrl.indexOf('?');
  return at < 0 ? '' : req.originalUrl.slice(at + 1);
}

/** Whether the request carries a SigV4 signature (header or presigned query); others fall through. */
export function isSigV4Request(req: CredentialSource): boolean {
  const header = headerOf(req, 'authorization');
  if (header !== undefined) return header.trimStart().startsWith(`${ALGORITHM} `);
  return new URLSearchParams(rawQuery(req)).has('X-Amz-Signature');
}

function parseDate(value: string | undefined): Date {
  const m = value === undefined ? null : AMZ_DATE.exec(value);
  if (!m) throw malformed('x-amz-date must be YYYYMMDDTHHMMSSZ');
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  return new Date(Date.UTC(y as number, (mo as number) - 1, d, h, mi, s));
}

function claimFrom(credential: string, amzDate: string | undefined, signedHeaders: string, signature: string) {
  const scope = credential.split('/');
  if (scope.length !== 5) throw malformed('Credential must be accessKeyId/date/region/service/aws4_request');
  if (!SIGNATURE.test(signature)) throw malformed('Signature must be 64 lower-case hex digits');
  const [accessKeyId, scopeDate, region, service, terminator] = scope as [string, string, string, string, string];
  const headers = signedHeaders.split(';').filter((h) => h !== '');
  return {
    accessKeyId,
    amzDate: amzDate ?? '',
    signingDate: parseDate(amzDate),
    scopeDate,
    region,
    service,
    terminator,
    signedHeaders: headers,
    signature,
  };
}

function fromHeader(req: CredentialSource, header: string): SigV4Claim {
  const fields = new Map<string, string>();
  for (const part of header.trim().slice(ALGORITHM.length).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const [credential, signedHeaders, signature] = ['Credential', 'SignedHeaders', 'Signature'].map((k) => fields.get(k));
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw malformed('Authorization needs Credential, SignedHeaders and Signature');
  }
  return claimFrom(credential, headerOf(req, 'x-amz-date'), signedHeaders, signature);
}

function fromQuery(query: URLSearchParams): SigV4Claim {
  if (query.get('X-Amz-Algorithm') !== ALGORITHM) throw malformed(`X-Amz-Algorithm must be ${ALGORITHM}`);
  const expires = query.get('X-Amz-Expires') ?? '';
  if (!/^\d{1,6}$/.test(expires) || Number(expires) < 1 || Number(expires) > MAX_PRESIGN_SECONDS) {
    throw malformed(`X-Amz-Expires must be 1-${MAX_PRESIGN_SECONDS} seconds`);
  }
  const claim = claimFrom(
    query.get('X-Amz-Credential') ?? '',
    query.get('X-Amz-Date') ?? undefined,
    query.get('X-Amz-SignedHeaders') ?? '',
    query.get('X-Amz-Signature') ?? '',
  );
  return { ...claim, expiresIn: Number(expires) };
}

/** Reads the signature claim from the Authorization header or the presigned query; 403 when malformed. */
export function parseSigV4(req: CredentialSource): SigV4Claim {
  const header = headerOf(req, 'authorization');
  return header !== undefined ? fromHeader(req, header) : fromQuery(new URLSearchParams(rawQuery(req)));
}

/**
 * The most query parameters a signed request may carry. The signer's canonical query is quadratic in a
 * key's repeats, and it runs before the signature is compared, for anyone who knows an access key ID
 * (not a secret): `?a&a&a…` in 14 KB took 72 ms. The largest legitimate query is `GET /cpix` with 100
 * `kid=` and its other options, presigned (6 more): 128 leaves room.
 */
export const MAX_SIGNED_QUERY_PARAMS = 128;

function queryRecord(raw: string, dropSignature: boolean): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  let count = 0;
  for (const [key, value] of new URLSearchParams(raw)) {
    if ((count += 1) > MAX_SIGNED_QUERY_PARAMS) {
      throw malformed(`more than ${MAX_SIGNED_QUERY_PARAMS} query parameters`);
    }
    if (dropSignature && key === 'X-Amz-Signature') continue;
    const prev = query[key];
    if (prev === undefined) query[key] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else query[key] = [prev, value];
  }
  return query;
}

/**
 * Rebuilds the request as the signer saw it: method, path and query exactly as received (the
 * signer re-encodes them the same way the client's did), only the signed headers, and the raw body
 * (undefined: the signed `x-amz-content-sha256`, or an empty body, stands for it).
 */
export function toSignableRequest(req: CredentialSource, claim: SigV4Claim, body: Buffer | undefined): HttpRequest {
  const headers: Record<string, string> = {};
  for (const name of claim.signedHeaders) {
    const value = req.headers[name];
    if (value === undefined) throw malformed(`signed header "${name}" is missing from the request`);
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const path = req.originalUrl.split('?')[0] as string;
  const host = headerOf(req, 'host') ?? '';
  return {
    method: req.method.toUpperCase(),
    protocol: `${req.protocol}:`,
    hostname: host.replace(/:\d+$/, ''),
    path,
    query: queryRecord(rawQuery(req), claim.expiresIn !== undefined),
    headers,
    body: body !== undefined && body.length > 0 ? body : undefined,
  };
}
