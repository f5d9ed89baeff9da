/**
 * The FairPlay skd:// forms through a real app: with KEYPLANE_FAIRPLAY_SKD_FORM=base64-json, a SPEKE
 * v2.1 FairPlay answer's #EXT-X-KEY URI is skd:// + base64 of {"kid","iv"}, and the IV is the
 * explicitIV the encoder is told to use; a template with {kid}:{iv} gives Axinom's form.
 */
import request from 'supertest';
import { NS } from '../../src/cpix/namespaces';
import { drmField, responseKeys } from '../helpers/cpix';
import { fixture } from '../helpers/fixtures';
import { makeTestApp, type TestApp } from '../helpers/test-app';

const FP = fixture('v2/valid-2.1/v1-a1--fp.xml');

async function fairplayUri(t: TestApp): Promise<{ uri: string; kid: string; ivHex: string }> {
  const res = await request(t.app)
    .post('/copyProtection')
    .set('Authorization', `Bearer ${t.encoderKey}`)
    .set('Content-Type', 'application/xml')
    .set('X-Speke-Version', '2.1')
    .send(FP);
  expect(res.status).toBe(200);
  const [kid, key] = [...responseKeys(res.text)][0] as [string, { iv: Buffer }];
  const line = drmField(res.text, kid, NS.cpix, 'HLSSignalingData') ?? '';
  const uri = /URI="([^"]+)"/.exec(line)?.[1] ?? '';
  return { uri, kid, ivHex: key.iv.toString('hex') };
}

it('base64-json: skd:// + base64 of {"kid","iv"}, the IV being the explicitIV', async () => {
  const t = await makeTestApp({ KEYPLANE_FAIRPLAY_SKD_FORM: 'base64-json' });
  try {
    const { uri, kid, ivHex } = await fairplayUri(t);
    expect(uri.startsWith('skd://')).toBe(true);
    expect(ivHex).toHaveLength(32);
    expect(JSON.parse(Buffer.from(uri.slice(6), 'base64').toString('utf8'))).toEqual({ kid, iv: ivHex });
  } finally {
    await t.close();
  }
});

it('template skd://{kid}:{iv} (Axinom form)', async () => {
  const t = await makeTestApp({ KEYPLANE_FAIRPLAY_URI_TEMPLATE: 'skd://{kid}:{iv}' });
  try {
    const { uri, kid, ivHex } = await fairplayUri(t);
    expect(uri).toBe(`skd://${kid}:${ivHex}`);
  } finally {
    await t.close();
  }
});
