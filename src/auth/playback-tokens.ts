import crypto from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { canonicalToken } from './canonical-token';
import { UUID_PATTERN } from '../domain/ids';
import { BadRequestError, UnauthorizedError } from '../errors';
import { TokenExpiredError } from './token-errors';
import { checkResourceId } from '../domain/ids';
import { DEFAULT_TENANT, isTenantId } from '../domain/tenants';
import type { Principal } from './principal';
import type { TokenSigningKey } from './token-keys';
import { tokenTenantOf, type TokenRevocations } from './token-revocation';

/** The `aud` of every playback token: a token minted for something else is not accepted. */
const PLAYBACK_AUDIENCE = 'keyplane-playback';
/** Lifetime of a token when the request does not ask for one. */
const DEFAULT_TOKEN_TTL_SECONDS = 300;
/** How far a token's `iat` may lie in the future (clock skew between the issuer and us). */
export const MAX_CLOCK_SKEW_SECONDS = 60;
const MAX_KIDS = 100;
const JWT_SHAPE = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}$/;

/** What a request asks a token for. */
interface TokenRequest {
  resourceId: unknown;
  ttlSeconds?: unknown;
  kids?: unknown;
  /**
   * The tenant that owns the resource (the `ten` claim), set by the caller after its ownership check:
   * the issuer's tenant, or for a `*` issuer the resource owner's. Absent: `default`.
   */
  tenant?: string;
}

/** A minted token. */
interface IssuedToken {
  token: string;
  expiresAt: Date;
  resourceId: string;
  /** The token's `jti`: what its deliveries, its revocation and the audit record of its minting name. */
  jti: string;
}

/** What a verified token allows: keys of one resource, optionally only some KIDs. */
export interface PlaybackGrant {
  jti: string;
  resourceId: string;
  kids?: ReadonlySet<string>;
  /** The tenant the token was minted for (`ten`); tokens minted before tenants carry none: `default`. */
  tenant: string;
}

/** Whether a bearer value is shaped like a JWT (three base64url parts); API keys never are. */
export function looksLikeJwt(value: string): boolean {
  return JWT_SHAPE.test(value);
}

function checkKids(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_KIDS) {
    throw new BadRequestError(`kids must be a non-empty array of at most ${MAX_KIDS} KIDs (UUIDs)`);
  }
  if (!value.every((k) => typeof k === 'string' && UUID_PATTERN.test(k))) {
    throw new BadRequestError('kids must contain only KIDs (UUIDs)');
  }
  return [...new Set(value.map((k: string) => k.toLowerCase()))];
}

/**
 * Short-lived JWTs (HS256, `kid` header) that let one player fetch the keys of one resource:
 * `sub` = resource ID, optional `kids`, `ten` = the owning tenant, `jti`, `iat`, `exp`, `aud` = keyplane-playback.
 * The first signing key signs; all verify, so keys rotate without breaking live tokens.
 */
export class PlaybackTokenService {
  private readonly byKid: Map<string, TokenSigningKey>;

  constructor(
    private readonly keys: TokenSigningKey[],
    private readonly maxTtlSeconds: number,
    private readonly now: () => Date = () => new Date(),
    /** Checked on every verification, whatever the transport (absent: no revocation, e.g. unit tests). */
    private readonly revocations?: TokenRevocations,
  ) {
    if (keys.length === 0) throw new Error('PlaybackTokenService needs at least one signing key');
    this.byKid = new Map(keys.map((k) => [k.kid, k]));
  }

  /** Mints a token; 400 when the resource ID, TTL or KIDs are invalid. */
  async issue(req: TokenRequest): Promise<IssuedToken> {
    const resourceId = checkResourceId(req.resourceId);
    const ttl = req.ttlSeconds ?? Math.min(DEFAULT_TOKEN_TTL_SECONDS, this.maxTtlSeconds);
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > this.maxTtlSeconds) {
      throw new BadRequestError(`ttlSeconds must be an integer from 1 to ${this.maxTtlSeconds}`);
    }
    const kids = checkKids(req.kids);
    const ten = req.tenant ?? DEFAULT_TENANT;
    if (!isTenantId(ten)) throw new Error(`A playback token cannot be minted for tenant "${ten}"`);
    const key = this.keys[0] as TokenSigningKey;
    const iat = Math.floor(this.now().getTime() / 1000);
    const jti = crypto.randomUUID();
    const token = await new SignJWT(kids ? { kids, ten } : { ten })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: key.kid })
      .setSubject(resourceId)
      .setAudience(PLAYBACK_AUDIENCE)
      .setJti(jti)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ttl)
      .sign(key.secret);
    return { token, expiresAt: new Date((iat + ttl) * 1000), resourceId, jti };
  }

  /**
   * Verifies a token: 401 when not canonical, malformed, badly signed, issued in the future (beyond
   * MAX_CLOCK_SKEW_SECONDS), without `exp`, or living longer than the maximum TTL; 410 once expired;
   * 401 `token_revoked` when revoked (one store read, only for a token whose signature verified).
   */
  async verify(presented: string): Promise<PlaybackGrant> {
    const token = canonicalToken(presented);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(
        token,
        (header) => {
          const key = header.kid === undefined ? undefined : this.byKid.get(header.kid);
          if (!key) throw new joseErrors.JWKSNoMatchingKey();
          return key.secret;
        },
        {
          audience: PLAYBACK_AUDIENCE,
          algorithms: ['HS256'],
          currentDate: this.now(),
          requiredClaims: ['sub', 'jti', 'exp', 'iat'],
        },
      ));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        const jti = err.payload.jti;
        throw new TokenExpiredError(typeof jti === 'string' ? jti : undefined);
      }
      throw new UnauthorizedError('Invalid playback token');
    }
    this.checkLifetime(payload);
    const grant = this.grantOf(payload);
    await this.revocations?.check(grant.jti, tokenTenantOf(payload));
    return grant;
  }

  private checkLifetime(payload: JWTPayload): void {
    const { iat, exp } = payload;
    if (typeof iat !== 'number' || typeof exp !== 'number') throw new UnauthorizedError('Invalid playback token');
    if (iat > this.now().getTime() / 1000 + MAX_CLOCK_SKEW_SECONDS) {
      throw new UnauthorizedError('Playback token is issued in the future');
    }
    if (exp - iat > this.maxTtlSeconds) {
      throw new UnauthorizedError(`Playback token lives longer than the maximum of ${this.maxTtlSeconds} s`);
    }
  }

  private grantOf(payload: JWTPayload): PlaybackGrant {
    const kids = payload.kids;
    const validKids = kids === undefined || (Array.isArray(kids) && kids.every((k) => typeof k === 'string'));
    const ten = payload.ten ?? DEFAULT_TENANT;
    if (!validKids || !isTenantId(ten) || typeof payload.sub !== 'string' || typeof payload.jti !== 'string') {
      throw new UnauthorizedError('Invalid playback token');
    }
    return {
      jti: payload.jti,
      resourceId: payload.sub,
      tenant: ten,
      ...(kids ? { kids: new Set((kids as string[]).map((k) => k.toLowerCase())) } : {}),
    };
  }
}

/** The caller a playback token stands for: no roles, only key delivery for its resource. */
export function tokenPrincipal(grant: PlaybackGrant): Principal {
  return {
    id: `token:${grant.jti}`,
    roles: new Set(),
    via: 'token',
    tenant: grant.tenant,
    resourceId: grant.resourceId,
    ...(grant.kids ? { kids: grant.kids } : {}),
  };
}
