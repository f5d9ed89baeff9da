import crypto from 'node:crypto';
import { RESOURCE_ID_PATTERN } from '../domain/ids';
import { GoneError } from '../errors';
import { secretsEqual } from './api-keys';
import { AccessDeniedError } from './delivery-errors';

/** How secure-link tokens are computed: Gcore's MD5 scheme, or the HMAC-SHA256 variant we recommend. */
export type SecureTokenAlgorithm = 'md5' | 'hmac-sha256';

/** The secure-link settings (`KEYPLANE_SECURE_TOKEN_*`). */
export interface SecureLinkConfig {
  clientId: string;
  secret: string;
  algorithm: SecureTokenAlgorithm;
}

/** Client ids cannot contain `_`: the link's first `_` after the client id starts the resource ID. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9.-]{1,64}$/;

/**
 * The token of a secure link, base64url without padding:
 * md5 (Gcore-compatible): MD5 of `{clientId}_{resourceId}_{secret}_{expires}_`;
 * hmac-sha256: HMAC-SHA256 keyed with the secret over `{clientId}_{resourceId}_{expires}_`.
 */
export function secureLinkToken(cfg: SecureLinkConfig, resourceId: string, expires: number | string): string {
  const digest =
    cfg.algorithm === 'md5'
      ? crypto.createHash('md5').update(`${cfg.clientId}_${resourceId}_${cfg.secret}_${expires}_`).digest()
      : crypto.createHmac('sha256', cfg.secret).update(`${cfg.clientId}_${resourceId}_${expires}_`).digest();
  return digest.toString('base64url');
}

const invalid = () => new AccessDeniedError('secure_link_invalid', 'Secure link is invalid');

/**
 * Checks `/secure/{clientId}_{resourceId}/{token}/{expires}/...` links (temporary links a CMS or
 * CDN hands to players): 403 when the token does not match, 410 when it matched but has expired.
 */
export class SecureLinkVerifier {
  constructor(
    private readonly cfg: SecureLinkConfig,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Returns the resource ID the link grants, or throws 403 / 410. */
  verify(link: string, token: string, expires: string): string {
    const { resourceId, expired } = this.check(link, token, expires);
    if (expired) throw new GoneError('Secure link has expired');
    return resourceId;
  }

  /**
   * The resource ID of a link whose token matches, and whether it has expired; 403 when the token does
   * not match. A caller that names the link's client in a record of the 410 does so only after this.
   */
  check(link: string, token: string, expires: string): { resourceId: string; expired: boolean } {
    const prefix = `${this.cfg.clientId}_`;
    const resourceId = link.startsWith(prefix) ? link.slice(prefix.length) : '';
    const wellFormed = RESOURCE_ID_PATTERN.test(resourceId) && /^\d{1,12}$/.test(expires);
    const expected = wellFormed ? secureLinkToken(this.cfg, resourceId, expires) : '';
    if (!secretsEqual(expected, token) || !wellFormed) throw invalid();
    return { resourceId, expired: Math.floor(this.now().getTime() / 1000) > Number(expires) };
  }
}
