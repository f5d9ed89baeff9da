import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InvalidResponseError } from '../../../src/cli/cli-errors';
import { buildCpixRequest } from '../../../src/cli/cpix-request-builder';
import { hlsUri, parsePsshBox, readCpixResponse } from '../../../src/cli/cpix-response-reader';
import { parseDeliveryCertificate } from '../../../src/cpix/delivery-certificate';
import { encryptDocument } from '../../../src/cpix/encrypt-document';
import { fillCpixV1, type KeyMaterial } from '../../../src/cpix/fill-cpix';
import { parseCpix } from '../../../src/cpix/parse-cpix';
import { serializeXml } from '../../../src/cpix/xml-serialize';
import type { ReadonlyXmlElement } from '../../../src/cpix/xml-tree';
import type { DrmSignalling } from '../../../src/drm/drm-system';
import { SYSTEM_IDS } from '../../../src/drm/drm-system';
import { buildPssh } from '../../../src/drm/pssh';
import { createDrmRegistry } from '../../../src/drm/registry';

const CERTS = path.join(__dirname, '../../fixtures/certs');
const CERT_DER = Buffer.from(fs.readFileSync(path.join(CERTS, 'delivery.der.b64'), 'utf8').trim(), 'base64');
const PRIVATE_KEY = createPrivateKey(fs.readFileSync(path.join(CERTS, 'delivery-key.pem')));

const registry = createDrmRegistry({
  fairplayUriTemplate: 'skd://{resourceId}/{kid}',
  widevineProvider: 'test',
  clearkeyLicenseUrl: 'https://keys.example/clearkey/license',
});

/** A SPEKE v1 response as a key provider fills it: fresh keys and IVs, each DRM system's signalling. */
function filledResponse(certificate?: Buffer) {
  const built = buildCpixRequest({
    speke: '1.0',
    resourceId: 'movie-9',
    drms: ['hls-aes128', 'widevine'],
    keyCount: 2,
    certificateDer: certificate,
  });
  const request = parseCpix(built.xml, '1.0');
  const keys = new Map<string, KeyMaterial>(
    request.contentKeys.map((k) => [k.kid, { key: randomBytes(16), iv: randomBytes(16) }]),
  );
  const signals = new Map<ReadonlyXmlElement, DrmSignalling>();
  for (const d of request.drmSystems) {
    const m = keys.get(d.kid) as KeyMaterial;
    const system = registry.get(d.systemId);
    const ctx = {
      spekeVersion: 'v1' as const,
      resourceId: 'movie-9',
      kid: d.kid,
      key: m.key,
      iv: m.iv,
      keyUrl: `https://keys.example/k/${d.kid}`,
    };
    signals.set(d.element, system!.signal(ctx));
  }
  return { built, keys, root: fillCpixV1(request, keys, signals) };
}

describe('reading a filled response', () => {
  it('returns every key and IV and decodes each DRM system’s signalling', () => {
    const { built, keys, root } = filledResponse();
    const response = readCpixResponse(serializeXml(root));
    expect(response.encrypted).toBe(false);
    for (const p of built.keys) {
      const got = response.keys.find((k) => k.kid === p.kid);
      expect(got?.key).toEqual(keys.get(p.kid)?.key);
      expect(got?.iv).toEqual(keys.get(p.kid)?.iv);
      const hls = response.drmSystems.find((d) => d.kid === p.kid && d.drm?.name === 'hls-aes128');
      expect(hls?.uriExtXKey).toBe(`https://keys.example/k/${p.kid}`);
      expect(hls?.keyFormat).toBe('identity');
      const widevine = response.drmSystems.find((d) => d.kid === p.kid && d.drm?.name === 'widevine');
      expect(parsePsshBox(widevine?.pssh as Buffer).systemId).toBe(SYSTEM_IDS.widevine);
    }
  });

  it('decrypts an encrypted response with the recipient key, every ValueMAC checked', () => {
    const { keys, root } = filledResponse(CERT_DER);
    encryptDocument(root, parseDeliveryCertificate(CERT_DER, new Date()), '2.3');
    const xml = serializeXml(root);
    expect(xml).not.toContain('PlainValue');

    const opaque = readCpixResponse(xml);
    expect(opaque.encrypted).toBe(true);
    expect(opaque.keys.every((k) => k.encrypted && k.key === undefined)).toBe(true);

    const clear = readCpixResponse(xml, PRIVATE_KEY);
    for (const [kid, m] of keys) expect(clear.keys.find((k) => k.kid === kid)?.key).toEqual(m.key);
  });

  it('refuses a response whose ValueMAC was altered, or that was encrypted for someone else', () => {
    const { root } = filledResponse(CERT_DER);
    encryptDocument(root, parseDeliveryCertificate(CERT_DER, new Date()), '2.3');
    const xml = serializeXml(root);
    const tampered = xml.replace(
      /(<pskc:ValueMAC>)(.)/g,
      (_m, tag: string, c: string) => `${tag}${c === 'A' ? 'B' : 'A'}`,
    );
    expect(() => readCpixResponse(tampered, PRIVATE_KEY)).toThrow(InvalidResponseError);
    expect(() => readCpixResponse(tampered, PRIVATE_KEY)).toThrow(/ValueMAC does not match/);
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    expect(() => readCpixResponse(xml, stranger)).toThrow(
      /cannot decrypt the encrypted response: No cpix:DeliveryData .* addressed to this private key/,
    );
  });

  it('says what is wrong with a document that is not CPIX', () => {
    expect(() => readCpixResponse('<html>nope')).toThrow(/not a readable XML document/);
    expect(() => readCpixResponse('<a xmlns="urn:x"/>')).toThrow('the response root is a, not cpix:CPIX');
  });
});

describe('pssh boxes and HLS lines', () => {
  it('parses version 0 and 1 boxes and rejects broken ones with the reason', () => {
    const kid = '6c5f5206-7d98-4808-84d8-94f132c1e9fe';
    const v1 = parsePsshBox(buildPssh({ systemId: SYSTEM_IDS.commonPssh, kids: [kid], version: 1 }));
    expect(v1).toMatchObject({ version: 1, systemId: SYSTEM_IDS.commonPssh, kids: [kid] });
    const v0 = buildPssh({ systemId: SYSTEM_IDS.widevine, data: Buffer.from('abc'), version: 0 });
    expect(parsePsshBox(v0).data.toString()).toBe('abc');
    expect(() => parsePsshBox(v0.subarray(0, 20))).toThrow(/at least 32 bytes/);
    const wrongType = Buffer.from(v0);
    wrongType.write('moov', 4, 'latin1');
    expect(() => parsePsshBox(wrongType)).toThrow('box type is "moov", not "pssh"');
  });

  it('finds the URI of an EXT-X-KEY line', () => {
    expect(hlsUri('#EXT-X-KEY:METHOD=AES-128,URI="https://k/1",IV=0x01')).toBe('https://k/1');
    expect(hlsUri('#EXT-X-KEY:METHOD=NONE')).toBeUndefined();
  });
});
