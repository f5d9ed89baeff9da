/**
 * The W3C EME Clear Key license exchange (Encrypted Media Extensions §9.1.3 and §9.1.4): a player's CDM
 * sends `{"kids":["<base64url KID>",...],"type":"temporary"}` and expects a JSON Web Key set back,
 * `{"keys":[{"kty":"oct","k":"<base64url key>","kid":"<base64url KID>"}],"type":"temporary"}`.
 * Pure: parsing, validation and formatting only.
 */
import { BadRequestError } from '../errors';

/** Most KIDs one license request may ask for (a DASH presentation rarely has more than a handful). */
const MAX_LICENSE_KIDS = 64;

/** The only session type Keyplane licenses: keys live as long as the player's session, never stored. */
const LICENSE_TYPE = 'temporary';

const BASE64URL_16_BYTES = /^[A-Za-z0-9_-]{22}$/;
const ALLOWED_FIELDS = new Set(['kids', 'type']);

/** A validated license request: KIDs as lower-case UUIDs, duplicates removed, in request order. */
interface ClearKeyLicenseRequest {
  kids: string[];
  type: typeof LICENSE_TYPE;
}

/** One key the license carries. */
export interface LicenseKey {
  /** Lower-case UUID. */
  kid: string;
  /** 16-byte content key. */
  key: Buffer;
}

/** One JSON Web Key of the license (RFC 7517 symmetric key). */
interface ClearKeyJwk {
  kty: 'oct';
  k: string;
  kid: string;
}

/** The license body: a JWK set plus the session type. */
interface ClearKeyLicense {
  keys: ClearKeyJwk[];
  type: typeof LICENSE_TYPE;
}

/** A KID (UUID) as EME writes it: base64url of its 16 bytes, no padding. */
export function kidToBase64Url(kid: string): string {
  return Buffer.from(kid.replace(/-/g, ''), 'hex').toString('base64url');
}

/** The UUID of an EME KID (base64url of 16 bytes, no padding), or undefined when it is not one. */
export function base64UrlToKid(value: string): string | undefined {
  if (!BASE64URL_16_BYTES.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64url');
  // The 22nd character carries 2 bits of padding that must be zero: only the canonical spelling is a KID.
  if (bytes.length !== 16 || bytes.toString('base64url') !== value) return undefined;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function checkObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('License request must be a JSON object {"kids": [...], "type": "temporary"}');
  }
  const unknown = Object.keys(body).filter((name) => !ALLOWED_FIELDS.has(name));
  if (unknown.length > 0) {
    throw new BadRequestError(`License request has unknown field(s): ${unknown.join(', ')} (allowed: kids, type)`);
  }
  return body as Record<string, unknown>;
}

function checkKids(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_LICENSE_KIDS) {
    throw new BadRequestError(`kids must be a non-empty array of at most ${MAX_LICENSE_KIDS} KIDs`);
  }
  const kids = value.map((item: unknown, i) => {
    const kid = typeof item === 'string' ? base64UrlToKid(item) : undefined;
    if (kid === undefined) {
      throw new BadRequestError(`kids[${i}] must be base64url (no padding) of a 16-byte KID`);
    }
    return kid;
  });
  return [...new Set(kids)];
}

function checkType(value: unknown): typeof LICENSE_TYPE {
  if (value === undefined || value === LICENSE_TYPE) return LICENSE_TYPE;
  if (value === 'persistent-license') {
    throw new BadRequestError('type "persistent-license" is not supported: Keyplane issues temporary licenses only');
  }
  throw new BadRequestError('type must be "temporary" (or absent)');
}

/** Validates a license request body; 400 naming the field when it is not a W3C Clear Key request Keyplane serves. */
export function parseLicenseRequest(body: unknown): ClearKeyLicenseRequest {
  const fields = checkObject(body);
  return { kids: checkKids(fields.kids), type: checkType(fields.type) };
}

/** The license for the keys found, in the order given. */
export function licenseResponse(keys: LicenseKey[]): ClearKeyLicense {
  return {
    keys: keys.map(({ kid, key }) => ({ kty: 'oct', k: key.toString('base64url'), kid: kidToBase64Url(kid) })),
    type: LICENSE_TYPE,
  };
}
