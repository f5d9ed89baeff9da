import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDeliveryCertificate } from '../../../src/cpix/delivery-certificate';
import { BadRequestError } from '../../../src/errors';

const CERTS = join(__dirname, '../../fixtures/certs');
const pemToDer = (file: string): Buffer => Buffer.from(new X509Certificate(readFileSync(join(CERTS, file))).raw);
const deliveryDer = Buffer.from(readFileSync(join(CERTS, 'delivery.der.b64'), 'utf8').trim(), 'base64');
const NOW = new Date();

function rejection(fn: () => unknown): BadRequestError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BadRequestError);
    return err as BadRequestError;
  }
  throw new Error('expected a BadRequestError, nothing was thrown');
}

describe('parseDeliveryCertificate', () => {
  it('reads an RSA-2048 certificate: key, fingerprint, subject, expiry', () => {
    expect(pemToDer('delivery.pem').equals(deliveryDer)).toBe(true);
    const cert = parseDeliveryCertificate(deliveryDer, NOW);
    expect(cert.publicKey.asymmetricKeyType).toBe('rsa');
    expect(cert.sha256).toBe(createHash('sha256').update(deliveryDer).digest('hex'));
    expect(cert.subject).toContain('CN=Keyplane test delivery certificate');
    expect(cert.notAfter.getTime()).toBeGreaterThan(NOW.getTime() + 19 * 365 * 24 * 3600 * 1000);
  });

  it('accepts a certificate on the allow-list, whatever the case and colons', () => {
    const hex = createHash('sha256').update(deliveryDer).digest('hex');
    const colonUpper = hex.toUpperCase().match(/../g)?.join(':') as string;
    expect(parseDeliveryCertificate(deliveryDer, NOW, ['00'.repeat(32), colonUpper]).sha256).toBe(hex);
    expect(parseDeliveryCertificate(deliveryDer, NOW, [hex]).sha256).toBe(hex);
  });

  it('rejects a certificate that is not on the allow-list (an empty list allows nothing)', () => {
    const err = rejection(() => parseDeliveryCertificate(deliveryDer, NOW, ['ab'.repeat(32)]));
    expect(err.message).toMatch(/not on this key provider's list of allowed delivery certificates/);
    expect(err.status).toBe(400);
    expect(rejection(() => parseDeliveryCertificate(deliveryDer, NOW, [])).message).toMatch(/not on/);
  });

  it('rejects an expired certificate, naming the date', () => {
    const err = rejection(() => parseDeliveryCertificate(pemToDer('expired.pem'), NOW));
    expect(err.message).toBe('The delivery certificate expired on 2021-01-01T00:00:00.000Z');
  });

  it('rejects a certificate that is not valid yet', () => {
    const err = rejection(() => parseDeliveryCertificate(deliveryDer, new Date('2000-01-01T00:00:00Z')));
    expect(err.message).toMatch(/^The delivery certificate is not valid yet: its validity starts \d{4}-/);
  });

  it('accepts the expired certificate inside its validity window (the clock is the caller’s)', () => {
    expect(parseDeliveryCertificate(pemToDer('expired.pem'), new Date('2020-06-01T00:00:00Z')).sha256).toHaveLength(64);
  });

  it('rejects an EC certificate', () => {
    const err = rejection(() => parseDeliveryCertificate(pemToDer('ec.pem'), NOW));
    expect(err.message).toMatch(/must carry an RSA public key .* it carries ec$/);
  });

  it('rejects an RSA key shorter than 2048 bits', () => {
    const err = rejection(() => parseDeliveryCertificate(pemToDer('rsa1024.pem'), NOW));
    expect(err.message).toMatch(/has 1024 bits; at least 2048 are required/);
  });

  it('rejects bytes that are not a DER certificate', () => {
    const err = rejection(() => parseDeliveryCertificate(Buffer.from('not a certificate'), NOW));
    expect(err.message).toMatch(/is not a parsable X\.509 DER certificate/);
    expect(rejection(() => parseDeliveryCertificate(deliveryDer.subarray(0, 200), NOW)).message).toMatch(/parsable/);
  });
});
