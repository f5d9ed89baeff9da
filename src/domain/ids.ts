/**
 * The identifiers every layer shares: resource IDs and KIDs. One pattern and one validator each, so auth,
 * audit, HLS, CPIX and HTTP agree on what a well-formed ID is without importing one another.
 */
import { BadRequestError } from '../errors';

/** A validated resource ID (content ID): safe in URL paths and store keys. */
export type ResourceId = string & { readonly __brand: 'ResourceId' };

/** A validated KID: a lower-case UUID. */
type Kid = string & { readonly __brand: 'Kid' };

/** Resource IDs: 1–256 chars of `A–Z a–z 0–9 . _ ~ : @ + = -`, starting alphanumeric (safe in URL paths). */
export const RESOURCE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._~:@+=-]{0,255}$/;

/** KIDs and DRM system IDs are UUIDs (any case on input; stored lower-case). */
export const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Whether a value is a well-formed resource ID. */
function isResourceId(value: unknown): value is ResourceId {
  return typeof value === 'string' && RESOURCE_ID_PATTERN.test(value);
}

/** Whether a value is a well-formed KID (any case). */
function isKid(value: unknown): value is string {
  return typeof value === 'string' && UUID_PATTERN.test(value);
}

/** Validates a resource ID from a path or body; the 400 names the field and the rule. */
export function checkResourceId(value: unknown, field = 'resourceId'): ResourceId {
  if (!isResourceId(value)) {
    throw new BadRequestError(
      `${field} must be 1-256 characters of A-Z a-z 0-9 . _ ~ : @ + = -, starting with a letter or digit`,
    );
  }
  return value;
}

/** Validates a KID (UUID) from a path or body; returns it lower-cased. */
export function checkKid(value: unknown, field = 'kid'): Kid {
  if (!isKid(value)) throw new BadRequestError(`${field} must be a UUID`);
  return value.toLowerCase() as Kid;
}
