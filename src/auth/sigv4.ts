import crypto from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest } from '@smithy/types';
import type { Request } from 'express';
import { captureRawBody } from '../http/raw-body';
import { AccessDeniedError } from './delivery-errors';
import type { Authenticator } from './authenticate';
import type { Principal } from './principal';
import type { SigV4Credential, SigV4CredentialSource } from './sigv4-credentials';
import { isSigV4Request, parseSigV4, toSignableRequest, type SigV4Claim } from './sigv4-request';

/** Allowed difference between the signer's clock and ours. */
export const SIGV4_MAX_SKEW_MS = 5 * 60 * 1000;

/** What the SigV4 authenticator needs: who may sign, for which scope, and the body size limit. */
export interface SigV4Options {
  credentials: SigV4CredentialSource;
  service: string;
  region: string;
  maxBodyBytes: number;
  now?: () => Date;
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

function checkContentHash(req: Request, body: Buffer): void {
  const declared = req.get('x-amz-content-sha256');
  if (declared === undefined) return;
  const actual = crypto.createHash('sha256').update(body).digest('hex');
  if (declared.toLowerCase() !== actual) {
    throw new AccessDeniedError('content_sha256_mismatch', 'x-amz-content-sha256 does not match the request body');
  }
}

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

/**
 * Authenticator for AWS Signature Version 4 (`Authorization: AWS4-HMAC-SHA256 ...` or a presigned
 * query), so keyserver proxies and encoders with AWS tooling can call Keyplane without API keys.
 * The body is read (bounded) and hashed before the route's parser sees it. Unsigned requests fall
 * through; every bad signature is a 403 saying what was wrong.
 */
export function sigv4Authenticator(opts: SigV4Options): Authenticator {
  const now = opts.now ?? (() => new Date());
  return async (req: Request): Promise<Principal | undefined> => {
    if (!isSigV4Request(req)) return undefined;
    const claim = parseSigV4(req);
    checkScope(claim, opts);
    checkTime(claim, now());
    checkSignedHeaders(claim);
    const credential = opts.credentials.lookup(claim.accessKeyId);
    if (!credential) throw new AccessDeniedError('unknown_access_key', 'SigV4 access key is not known to Keyplane');
    const body = await captureRawBody(req, opts.maxBodyBytes);
    checkContentHash(req, body);
    const expected = await expectedSignature(toSignableRequest(req, claim, body), claim, credential, opts);
    if (!signaturesEqual(expected, claim.signature)) {
      throw new AccessDeniedError(
        'signature_mismatch',
        'SigV4 signature does not match (check the secret key, the signed headers and the body)',
      );
    }
    return { id: `sigv4:${credential.accessKeyId}`, roles: new Set(credential.roles), via: 'sigv4' };
  };
}
