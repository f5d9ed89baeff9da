import request from 'supertest';
import { fixture } from '../helpers/fixtures';
import { makeTestApp } from '../helpers/test-app';

/**
 * Found by the 100k-case fuzz run: xmlbuilder2 keys plain objects by namespace URI and prefix, so a
 * document declaring `xmlns:p="toString"` crashed the serializer (500), and an attribute in a namespace
 * named `constructor` would have written into `Object` itself. Such names are refused with a 400.
 */
describe('namespace URIs and prefixes that are Object property names', () => {
  const objectKeys = Object.getOwnPropertyNames(Object.prototype);

  it.each([
    ['URI toString', 'xmlns:p="toString"'],
    ['URI constructor with an attribute in it', 'xmlns:p="constructor" p:keys="x"'],
    ['URI __proto__', 'xmlns:p="__proto__"'],
    ['URI hasOwnProperty', 'xmlns:p="hasOwnProperty"'],
    ['prefix toString', 'xmlns:toString="urn:x"'],
    ['prefix __proto__', 'xmlns:__proto__="urn:x"'],
  ])('%s → 400 naming it, nothing stored, Object untouched', async (_name, declaration) => {
    const t = await makeTestApp();
    try {
      const body = fixture('v1/hls-single-key.xml').replace(
        'xmlns:speke="urn:aws:amazon:com:speke"',
        `xmlns:speke="urn:aws:amazon:com:speke" ${declaration}`,
      );
      const res = await request(t.app)
        .post('/copyProtection')
        .set('x-api-key', t.encoderKey)
        .set('content-type', 'application/xml')
        .send(body);
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/^Namespace (URI|prefix) ".+" is not supported$/);
      const resourceId = /<cpix:CPIX[^>]*\bid="([^"]+)"/.exec(body)?.[1] as string;
      expect(await t.deps.store.leases.get(resourceId)).toBeUndefined();
      expect(Object.getOwnPropertyNames(Object.prototype)).toEqual(objectKeys);
      expect(typeof Object.keys).toBe('function');
    } finally {
      await t.close();
    }
  });
});
