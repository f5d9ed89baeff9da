import crypto from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest } from '@smithy/types';
import { AccessDeniedError } from './delivery-errors';
import { headerOf, type CredentialSource } from './credential-source';
import type { Principal } from './principal';
import type { SigV4Credential, SigV4CredentialSource } from './sigv4-credentials';
import { isSigV4Request, parseSigV4, toSignableRequest, type SigV4Claim } from './sigv4-request';

/** Allowed difference between the signer's clock and ours. */
const SIGV4_MAX_SKEW_MS = 5 * 60 * 1000;

/** What the SigV4 authenticator needs: who may sign, and for which scope. */
export interface SigV4Options {
  credentials: SigV4CredentialSource;
  service: string;
  region: string;
  now?: () => Date;
}

/**
 * What is left to check once the body has been read: its SHA-256 against the hash the signature
 * covers (declared in a signed `x-amz-content-sha256`), or, when the signer left the header out, the
 * signature itself over the body. Throws AccessDeniedError; whoever reads the body must call it, and
 * must not let the route act on the body before it resolved.
 */
export type SignedBodyCheck = (body: Buffer, sha256Hex: string) => Promise<void>;

/** A request SigV4 recognised: who signed it, and what is left to check once its body has been read. */
interface SigV4Verdict {
  principal: Principal;
  signedBodyCheck: SignedBodyCheck;
}

/** `x-amz-content-sha256` value saying the signature does not cover the body. */
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const SHA256_HEX = /^[0-9a-f]{64}$/i;

/** Whether the request announces a body (chunked, or a non-zero Content-Length). */
export function announcesBody(req: Pick<CredentialSource, 'headers'>): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) !== 0);
}

function checkScope(claim: SigV4Claim, opts: SigV4Options): void {
  if (claim.service !== opts.service || claim.region !== opts.region || claim.terminator !== 'aws4_request') {
    throw new AccessDeniedError(
      'scope_mismatch',
      `SigV4 credential scope must name region "${opts.region}" and service "${opts.service}" ` +
        `(got region "${claim.region}", service "${claim.service}")`,
    );
  }
  if (claim.scopeDate !== claim.amzDate.slice(0, 8)) {
    throw new AccessDeniedError('scope_mismatch', 'SigV4 credential scope date differs from x-amz-date');
  }
}

function checkTime(claim: SigV4Claim, now: Date): void {
  const signedAt = claim.signingDate.getTime();
  if (signedAt - now.getTime() > SIGV4_MAX_SKEW_MS) {
    throw new AccessDeniedError('request_time_skewed', 'SigV4 request date is more than 5 minutes in the future');
  }
  const validUntil = signedAt + (claim.expiresIn !== undefined ? claim.expiresIn * 1000 : SIGV4_MAX_SKEW_MS);
  if (now.getTime() > validUntil) {
    throw new AccessDeniedError(
      'request_time_skewed',
      claim.expiresIn !== undefined
        ? 'SigV4 presigned URL has expired'
        : 'SigV4 request date is more than 5 minutes in the past (expired or clock skew)',
    );
  }
}

function checkSignedHeaders(claim: SigV4Claim): void {
  const required = claim.expiresIn !== undefined ? ['host'] : ['host', 'x-amz-date'];
  const missing = required.filter((h) => !claim.signedHeaders.includes(h));
  if (missing.length > 0) {
    throw new AccessDeniedError('unsigned_headers', `SigV4 signed headers must include ${missing.join(' and ')}`);
  }
}

function checkContentHash(declared: string | undefined, actual: string): void {
  if (declared === undefined) return;
  if (declared.toLowerCase() !== actual) {
    throw new AccessDeniedError('content_sha256_mismatch', 'x-amz-content-sha256 does not match the request body');
  }
}

/**
 * The payload hash the signature covers when it can be known from the headers alone: the signed
 * `x-amz-content-sha256`, or the hash of an empty body. Undefined when only the body can tell.
 * `UNSIGNED-PAYLOAD` is refused on a request with a body: the body would be unauthenticated.
 */
function declaredPayloadHash(req: CredentialSource, claim: SigV4Claim): string | undefined {
  const declared = headerOf(req, 'x-amz-content-sha256');
  if (declared === UNSIGNED_PAYLOAD) {
    if (announcesBody(req)) {
      throw new AccessDeniedError(
        'unsigned_payload',
        'SigV4 x-amz-content-sha256: UNSIGNED-PAYLOAD is accepted only on requests without a body; sign the body',
      );
    }
    return claim.signedHeaders.includes('x-amz-content-sha256') ? declared : undefined;
  }
  if (declared !== undefined && SHA256_HEX.test(declared) && claim.signedHeaders.includes('x-amz-content-sha256')) {
    return declared.toLowerCase();
  }
  return announcesBody(req) ? undefined : EMPTY_SHA256;
}

const EMPTY_SHA256 = crypto.createHash('sha256').update('').digest('hex');

/** Recomputes the signature with the AWS SDK signer; `undefined` when the signed header list cannot be reproduced. */
async function expectedSignature(
  request: HttpRequest,
  claim: SigV4Claim,
  credential: SigV4Credential,
  opts: SigV4Options,
): Promise<string | undefined> {
  const signer = new SignatureV4({
    credentials: { accessKeyId: credential.accessKeyId, secretAccessKey: credential.secretAccessKey },
    region: opts.region,
    service: opts.service,
    sha256: Sha256,
    applyChecksum: false,
  });
  const args = { signingDate: claim.signingDate, signableHeaders: new Set(claim.signedHeaders) };
  if (claim.expiresIn !== undefined) {
    const presigned = await signer.presign(request, { ...args, expiresIn: claim.expiresIn });
    const list = presigned.query?.['X-Amz-SignedHeaders'];
    return list === claim.signedHeaders.join(';') ? (presigned.query?.['X-Amz-Signature'] as string) : undefined;
  }
  const signed = await signer.sign(request, args);
  const m = /SignedHeaders=([^,]*), Signature=([0-9a-f]{64})$/.exec(signed.headers.authorization ?? '');
  return m && m[1] === claim.signedHeaders.join(';') ? m[2] : undefined;
}

function signaturesEqual(expected: string | undefined, presented: string): boolean {
  const a = Buffer.from(expected ?? '0'.repeat(64), 'hex');
  const b = Buffer.from(presented, 'hex');
  return a.length === b.length && crypto.timingSafeEqual(a, b) && expected !== undefined;
}

function mismatch(): AccessDeniedError {
  return new AccessDeniedError(
    'signature_mismatch',
    'SigV4 signature does not match (check the secret key, the signed headers and the body)',
  );
}

/**
 * Checks AWS Signature Version 4 (`Authorization: AWS4-HMAC-SHA256 ...` or a presigned query), so
 * keyserver proxies and encoders with AWS tooling can call Keyplane without API keys. Everything is
 * checked from the headers before a byte of the body is read: scope, time, signed headers, access
 * key, and the signature over the declared payload hash (a signed `x-amz-content-sha256`; none for a
 * request without a body). The verdict's `signedBodyCheck` then checks the body against that hash as
 * it is read. Only a request whose signer left the body's hash out of the headers has its signature
 * checked after its body was read (bounded by the body limit). Unsigned requests resolve to
 * undefined (they fall through); every bad signature is a 403 saying what was wrong. The HTTP edge
 * adapts this to an authenticator (`src/http/sigv4-adapter.ts`).
 */
export function sigv4Checker(opts: SigV4Options): (req: CredentialSource) => Promise<SigV4Verdict | undefined> {
  const now = opts.now ?? (() => new Date());
  return async (req) => {
    if (!isSigV4Request(req)) return undefined;
    const claim = parseSigV4(req);
    checkScope(claim, opts);
    checkTime(claim, now());
    checkSignedHeaders(claim);
    const credential = opts.credentials.lookup(claim.accessKeyId);
    if (!credential) throw new AccessDeniedError('unknown_access_key', 'SigV4 access key is not known to Keyplane');
    const verify = async (body: Buffer | undefined) => {
      const expected = await expectedSignature(toSignableRequest(req, claim, body), claim, credential, opts);
      if (!signaturesEqual(expected, claim.signature)) throw mismatch();
    };
    const payloadHash = declaredPayloadHash(req, claim);
    const declared = headerOf(req, 'x-amz-content-sha256');
    const checkDeclared = (sha256Hex: string) => {
      if (declared !== UNSIGNED_PAYLOAD) checkContentHash(declared, sha256Hex);
    };
    let signedBodyCheck: SignedBodyCheck;
    if (payloadHash !== undefined) {
      await verify(undefined);
      signedBodyCheck = async (_body, sha256Hex) => checkDeclared(sha256Hex);
    } else {
      signedBodyCheck = async (body, sha256Hex) => {
        checkDeclared(sha256Hex);
        await verify(body);
      };
    }
    const principal: Principal = {
      id: `sigv4:${credential.accessKeyId}`,
      roles: new Set(credential.roles),
      via: 'sigv4',
      tenant: credential.tenant,
    };
    return { principal, signedBodyCheck };
  };
}
