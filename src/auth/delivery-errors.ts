import { KeyplaneError } from '../errors';

/** Reasons a delivery or signed request is refused; clients and logs can branch on them. */
type DenyReason =
  | 'ip_denied'
  | 'origin_denied'
  | 'token_resource_mismatch'
  | 'token_kid_not_allowed'
  | 'resource_not_yours'
  | 'secure_link_invalid'
  | 'signature_mismatch'
  | 'request_time_skewed'
  | 'unknown_access_key'
  | 'scope_mismatch'
  | 'unsigned_headers'
  | 'content_sha256_mismatch'
  | 'unsigned_payload'
  | 'malformed_signature'
  | 'edgeauth_hmac_mismatch'
  | 'edgeauth_not_yet_valid'
  | 'edgeauth_ip_mismatch'
  | 'edgeauth_acl_denied';

/** A 403 that says why in a machine-readable `reason` next to the usual `error: forbidden`. */
export class AccessDeniedError extends KeyplaneError {
  constructor(
    readonly reason: DenyReason,
    message: string,
  ) {
    super(403, 'forbidden', message, { details: { reason } });
  }
}

/** A feature the deployment has not configured (e.g. secure links without a secret): 501, naming the variable. */
export class NotConfiguredError extends KeyplaneError {
  constructor(message: string) {
    super(501, 'not_configured', message);
  }
}
