/** The one parser of `Authorization: Bearer <value>`, shared by every credential that travels as a bearer. */

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The value of a Bearer authorization header, or undefined when the header is absent or not a Bearer one. */
export function bearerValue(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  return BEARER.exec(header)?.[1];
}
