import { AccessPolicy } from '../../../src/auth/access-policy';
import { NotFoundError } from '../../../src/errors';
import type { DeliveryContext, DeliveryGrant } from '../../../src/delivery/grant';
import { KeyDelivery, type DeliveryOutcome } from '../../../src/delivery/key-delivery';
import type { IssuedKey, KeyService } from '../../../src/keys/key-service';
import type { StoredKey } from '../../../src/store/records';

const KID_A = '11111111-2222-4333-8444-555555555555';
const KID_B = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const KID_C = 'cccccccc-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const OWNER: Record<string, string> = { [KID_A]: 'vod-1', [KID_B]: 'vod-1', [KID_C]: 'vod-2' };

const issued = (kid: string): IssuedKey => ({ kid, key: Buffer.alloc(16, 1), iv: Buffer.alloc(16, 2) });

/** A KeyService that knows three keys, two of vod-1 and one of vod-2. */
const keys = {
  get: async (resourceId: string, kid: string) => {
    if (OWNER[kid] !== resourceId) throw new NotFoundError(`No key for ${kid}`);
    return issued(kid);
  },
  findByKids: async (kids: string[]) =>
    new Map(kids.filter((k) => OWNER[k]).map((k) => [k, { kid: k, resourceId: OWNER[k] } as unknown as StoredKey])),
  open: async (stored: StoredKey) => issued(stored.kid),
} as unknown as KeyService;

const ctx = (grant: DeliveryGrant, origin?: string): DeliveryContext => ({
  route: 'GET /keys/{resourceId}/{kid}',
  grant,
  client: { ip: '192.0.2.1', ...(origin ? { origin } : {}) },
});
const refusal = (o: DeliveryOutcome) => (o.ok ? undefined : [o.error.status, o.events]);

describe('KeyDelivery.key', () => {
  const delivery = new KeyDelivery(keys, new AccessPolicy({ allowOrigins: ['https://p.example.com'] }));

  it('delivers the key with one audit event and the CORS headers of an explicitly allowed Origin', async () => {
    const out = await delivery.key(ctx({ principal: 'apikey:k1' }, 'https://p.example.com'), 'vod-1', KID_A);
    expect(out).toEqual({
      ok: true,
      keys: [issued(KID_A)],
      cors: { 'Access-Control-Allow-Origin': 'https://p.example.com', Vary: 'Origin' },
      events: [
        {
          action: 'deliver',
          route: 'GET /keys/{resourceId}/{kid}',
          resourceId: 'vod-1',
          tenant: 'default',
          kid: KID_A,
          status: 200,
          principal: 'apikey:k1',
          clientIp: '192.0.2.1',
        },
      ],
    });
  });

  it('refuses what the grant does not cover, and says so in the audit event', async () => {
    const other = await delivery.key(ctx({ principal: 'token:j', resourceId: 'vod-2' }), 'vod-1', KID_A);
    expect(refusal(other)).toEqual([
      403,
      [expect.objectContaining({ resourceId: 'vod-1', kid: KID_A, status: 403, reason: 'token_resource_mismatch' })],
    ]);
    const kids = await delivery.key(ctx({ resourceId: 'vod-1', kids: new Set([KID_B]) }), 'vod-1', KID_A);
    expect(refusal(kids)).toEqual([403, [expect.objectContaining({ reason: 'token_kid_not_allowed' })]]);
  });

  it('lets a policy refusal win over a missing key', async () => {
    const denied = await delivery.key(ctx({}, 'https://evil.example'), 'vod-1', KID_C);
    expect(refusal(denied)).toEqual([403, [expect.objectContaining({ reason: 'origin_denied' })]]);
    const missing = await delivery.key(ctx({}), 'vod-1', KID_C);
    expect(refusal(missing)).toEqual([404, [expect.objectContaining({ reason: 'not_found' })]]);
  });
});

describe('KeyDelivery.license', () => {
  const delivery = new KeyDelivery(keys);

  it('delivers the keys found, one audit event per KID, per resource', async () => {
    const out = await delivery.license(ctx({ principal: 'apikey:k1' }), [
      KID_A,
      KID_C,
      'dddddddd-bbbb-4ccc-8ddd-eeeeeeeeeeee',
    ]);
    expect(out.ok && out.keys.map((k) => k.kid)).toEqual([KID_A, KID_C]);
    expect(out.events.map((e) => [e.resourceId, e.kid])).toEqual([
      ['vod-1', KID_A],
      ['vod-2', KID_C],
    ]);
  });

  it('refuses a token for KIDs of another resource, audited under the token resource', async () => {
    const out = await delivery.license(ctx({ principal: 'token:j', resourceId: 'vod-1' }), [KID_A, KID_C]);
    expect(refusal(out)).toEqual([
      403,
      [expect.objectContaining({ resourceId: 'vod-1', status: 403, reason: 'token_resource_mismatch' })],
    ]);
  });

  it('answers 404 when no KID is known; unaudited when no resource is known', async () => {
    const out = await delivery.license(ctx({ principal: 'apikey:k1' }), ['dddddddd-bbbb-4ccc-8ddd-eeeeeeeeeeee']);
    expect(refusal(out)).toEqual([404, []]);
  });
});

describe('KeyDelivery: tenant scope', () => {
  // vod-1 belongs to studio-a, vod-2 to studio-b; the owner store counts its reads.
  const tenants: Record<string, string> = { 'vod-1': 'studio-a', 'vod-2': 'studio-b' };
  let reads = 0;
  const owners = {
    get: async (resourceId: string) => {
      reads++;
      const tenant = tenants[resourceId];
      return tenant === undefined ? undefined : { tenant };
    },
  };
  const delivery = new KeyDelivery(keys, new AccessPolicy({ allowOrigins: ['https://p.example.com'] }), owners);

  it("delivers a tenant's own keys with one owner read, audited under the owner's tenant", async () => {
    reads = 0;
    const out = await delivery.key(ctx({ principal: 'apikey:a', tenant: 'studio-a' }), 'vod-1', KID_A);
    expect(out.ok).toBe(true);
    expect(out.events).toEqual([expect.objectContaining({ tenant: 'studio-a', status: 200 })]);
    expect(reads).toBe(1);
  });

  it("refuses another tenant's resource (403 resource_not_yours, owner not named), even for an unknown KID", async () => {
    for (const kid of [KID_A, 'dddddddd-bbbb-4ccc-8ddd-eeeeeeeeeeee']) {
      const out = await delivery.key(ctx({ principal: 'apikey:b', tenant: 'studio-b' }), 'vod-1', kid);
      expect(refusal(out)).toEqual([
        403,
        [expect.objectContaining({ principal: 'apikey:b', tenant: 'studio-a', reason: 'resource_not_yours' })],
      ]);
      expect(out.ok || out.error.message).not.toContain('studio-a');
    }
  });

  it('lets * open every tenant, and a policy refusal win over the tenant check', async () => {
    const all = await delivery.key(ctx({ principal: 'admin-key', tenant: '*' }), 'vod-2', KID_C);
    expect(all.ok && all.events[0]?.tenant).toBe('studio-b');
    const denied = await delivery.key(ctx({ tenant: 'studio-b' }, 'https://evil.example'), 'vod-1', KID_A);
    expect(refusal(denied)).toEqual([403, [expect.objectContaining({ reason: 'origin_denied' })]]);
  });

  it('checks a playback token against the owner too (defence in depth)', async () => {
    const forged = await delivery.key(
      ctx({ principal: 'token:j', resourceId: 'vod-1', tenant: 'default' }),
      'vod-1',
      KID_A,
    );
    expect(refusal(forged)).toEqual([403, [expect.objectContaining({ reason: 'resource_not_yours' })]]);
  });

  it('does not scope grants without a tenant (secure links)', async () => {
    expect((await delivery.key(ctx({ principal: 'secure-link:c', resourceId: 'vod-1' }), 'vod-1', KID_A)).ok).toBe(
      true,
    );
  });

  it("refuses a license naming another tenant's KID, audited under that resource", async () => {
    const out = await delivery.license(ctx({ principal: 'apikey:a', tenant: 'studio-a' }), [KID_A, KID_C]);
    expect(refusal(out)).toEqual([
      403,
      [expect.objectContaining({ resourceId: 'vod-2', tenant: 'studio-b', reason: 'resource_not_yours' })],
    ]);
    const own = await delivery.license(ctx({ principal: 'apikey:a', tenant: 'studio-a' }), [KID_A, KID_B]);
    expect(own.ok && own.events.map((e) => e.tenant)).toEqual(['studio-a', 'studio-a']);
  });
});
