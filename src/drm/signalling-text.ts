/**
 * Text pieces several DRM modules share: XML escaping, the DASH `<cenc:pssh>` fragment and the
 * paired HLS media/master key lines.
 */

/** DASH CENC namespace (ISO/IEC 23001-7 §11.2) that `<cenc:pssh>` lives in. */
const CENC_NAMESPACE = 'urn:mpeg:cenc:2013';

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Escapes text for use in XML element content or attribute values (URLs carry `&`). */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => XML_ESCAPES[ch] as string);
}

/** The standalone DASH fragment `<cenc:pssh>` holding a whole pssh box in base64, as ContentProtectionData wants. */
export function cencPsshElement(pssh: Buffer): string {
  return `<cenc:pssh xmlns:cenc="${CENC_NAMESPACE}">${pssh.toString('base64')}</cenc:pssh>`;
}

/**
 * The HLS METHOD for a Common Encryption scheme: SAMPLE-AES is `cbcs` (RFC 8216), so `cenc` and `cens`
 * content is SAMPLE-AES-CTR (Widevine's HLS signalling; ExoPlayer and Shaka Player read it as `cenc`).
 */
export function sampleAesMethod(scheme: string | undefined): 'SAMPLE-AES' | 'SAMPLE-AES-CTR' {
  return scheme === 'cenc' || scheme === 'cens' ? 'SAMPLE-AES-CTR' : 'SAMPLE-AES';
}

/** Media (`#EXT-X-KEY`) and master (`#EXT-X-SESSION-KEY`) lines with identical attributes, as AWS requires. */
export function hlsKeyLines(attributes: string): { media: string; master: string } {
  return { media: `#EXT-X-KEY:${attributes}`, master: `#EXT-X-SESSION-KEY:${attributes}` };
}
