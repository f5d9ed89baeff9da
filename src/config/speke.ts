import { FAIRPLAY_PLACEHOLDERS, FAIRPLAY_SKD_FORMS, type FairplaySkdForm } from '../drm/fairplay';
import { parseDeliveryCertificate } from '../cpix/delivery-certificate';
import { KeyplaneError } from '../errors';
import { fail, optional, url, type Env } from './env';

/** What SPEKE responses put in each DRM system's signalling (`KEYPLANE_FAIRPLAY_*`, `_WIDEVINE_*`, ...). */
export interface SpekeConfig {
  fairplayUriTemplate: string;
  /** `KEYPLANE_FAIRPLAY_SKD_FORM`: `template` (default) or `base64-json`. */
  fairplaySkdForm: FairplaySkdForm;
  widevineProvider: string;
  playreadyLaUrl?: string;
  /** SHA-256 fingerprints of the certificates SPEKE v2 responses may be encrypted to. */
  deliveryCertSha256?: string[];
  /** DER of the certificate `GET /cpix/{resourceId}` encrypts to when the caller sends none. */
  cpixDeliveryCertificate?: Buffer;
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
  for (const [, placeholder] of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(FAIRPLAY_PLACEHOLDERS as readonly string[]).includes(placeholder as string)) {
      fail(name, `unknown placeholder {${placeholder}}; use ${FAIRPLAY_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`);
    }
  }
  return template;
}

function fairplayForm(env: Env): FairplaySkdForm {
  const name = 'KEYPLANE_FAIRPLAY_SKD_FORM';
  const form = optional(env, name) ?? 'template';
  if (!(FAIRPLAY_SKD_FORMS as readonly string[]).includes(form))
    fail(name, `must be one of ${FAIRPLAY_SKD_FORMS.join(', ')}`);
  if (form === 'base64-json' && optional(env, 'KEYPLANE_FAIRPLAY_URI_TEMPLATE') !== undefined) {
    fail(name, 'base64-json ignores KEYPLANE_FAIRPLAY_URI_TEMPLATE: unset one of them');
  }
  return form as FairplaySkdForm;
}

/** `KEYPLANE_CPIX_DELIVERY_CERTIFICATE`: PEM or base64 DER, vetted as a SPEKE request's certificate is. */
function cpixCertificate(env: Env, allowed: string[] | undefined): Buffer | undefined {
  const name = 'KEYPLANE_CPIX_DELIVERY_CERTIFICATE';
  const raw = optional(env, name);
  if (raw === undefined) return undefined;
  const base64 = raw.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) fail(name, 'must be a PEM certificate or the base64 of a DER one');
  const der = Buffer.from(base64, 'base64');
  try {
    parseDeliveryCertificate(der, new Date(), allowed);
  } catch (err) {
    if (err instanceof KeyplaneError) fail(name, err.message);
    throw err;
  }
  return der;
}

/** Reads the DRM signalling variables and the delivery-certificate allow-list. */
export function loadSpekeConfig(env: Env): SpekeConfig {
  return {
    fairplayUriTemplate: fairplayTemplate(env),
    fairplaySkdForm: fairplayForm(env),
    widevineProvider: optional(env, 'KEYPLANE_WIDEVINE_PROVIDER') ?? 'keyplane',
    playreadyLaUrl: url(env, 'KEYPLANE_PLAYREADY_LA_URL'),
    deliveryCertSha256: fingerprints(env),
    cpixDeliveryCertificate: cpixCertificate(env, fingerprints(env)),
  };
}
