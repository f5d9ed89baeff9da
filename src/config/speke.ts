import { fail, optional, url, type Env } from './env';

/** What SPEKE responses put in each DRM system's signalling (`KEYPLANE_FAIRPLAY_*`, `_WIDEVINE_*`, ...). */
export interface SpekeConfig {
  fairplayUriTemplate: string;
  widevineProvider: string;
  playreadyLaUrl?: string;
  /** SHA-256 fingerprints of the certificates SPEKE v2 responses may be encrypted to. */
  deliveryCertSha256?: string[];
}

function fingerprints(env: Env): string[] | undefined {
  const name = 'KEYPLANE_DELIVERY_CERT_SHA256';
  const raw = optional(env, name);
  if (raw === undefined) return undefined;
  return raw.split(',').map((item) => {
    const hex = item.replace(/[:\s]/g, '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) fail(name, `"${item}" is not a SHA-256 fingerprint (64 hex digits)`);
    return hex;
  });
}

function fairplayTemplate(env: Env): string {
  const name = 'KEYPLANE_FAIRPLAY_URI_TEMPLATE';
  const template = optional(env, name) ?? 'skd://{resourceId}/{kid}';
  if (!template.startsWith('skd://') || /["\s,]/.test(template)) {
    fail(name, 'must be an skd:// URI without quotes, commas or spaces (it goes into #EXT-X-KEY)');
  }
  return template;
}

/** Reads the DRM signalling variables and the delivery-certificate allow-list. */
export function loadSpekeConfig(env: Env): SpekeConfig {
  return {
    fairplayUriTemplate: fairplayTemplate(env),
    widevineProvider: optional(env, 'KEYPLANE_WIDEVINE_PROVIDER') ?? 'keyplane',
    playreadyLaUrl: url(env, 'KEYPLANE_PLAYREADY_LA_URL'),
    deliveryCertSha256: fingerprints(env),
  };
}
