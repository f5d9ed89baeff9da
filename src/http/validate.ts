import { RESOURCE_ID_PATTERN, UUID_PATTERN } from '../cpix/cpix-model';
import { BadRequestError } from '../errors';

/** Validates a resource ID from a path or body. */
export function checkResourceId(value: unknown, field = 'resourceId'): string {
  if (typeof value !== 'string' || !RESOURCE_ID_PATTERN.test(value)) {
    throw new BadRequestError(
      `${field} must be 1-256 characters of A-Z a-z 0-9 . _ ~ : @ + = -, starting with a letter or digit`,
    );
  }
  return value;
}

/** Validates a KID (UUID) from a path; returns it lower-cased. */
export function checkKid(value: unknown): string {
  if (typeof value !== 'string' || !UUID_PATTERN.test(value)) throw new BadRequestError('kid must be a UUID');
  return value.toLowerCase();
}
