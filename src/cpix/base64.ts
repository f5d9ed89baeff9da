import { BadRequestError } from '../errors';

/**
 * Decodes the base64 text of a CPIX element (whitespace allowed, padding required); anything else is a
 * 400 naming `what`, since `Buffer.from(…, 'base64')` would silently skip bad characters.
 */
export function decodeBase64(text: string, what: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (compact === '' || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact)) {
    throw new BadRequestError(`${what} is not valid base64`);
  }
  return Buffer.from(compact, 'base64');
}
