import crypto from 'node:crypto';
import path from 'node:path';
import { KeyService } from '../../src/keys/key-service';
import { LocalEnvelopeCipher, loadOrCreateMasterKey } from '../../src/keys/local-cipher';
import { openSqliteBackend } from '../../src/store/sqlite';
import type { Backend } from '../../src/store/backend';
import type { EnvelopeCipher } from '../../src/keys/envelope-cipher';

/** A store and its cipher, opened the way `keyplane serve` opens a data dir. */
export interface SeededStore {
  store: Backend;
  cipher: EnvelopeCipher;
  keys: KeyService;
}

/** Opens (creating) the SQLite store and master key of a data dir. */
export function openDataDir(dir: string): SeededStore {
  const store = openSqliteBackend(path.join(dir, 'keyplane.db'));
  const cipher = new LocalEnvelopeCipher(loadOrCreateMasterKey(dir));
  return { store, cipher, keys: new KeyService(store, cipher, 3600) };
}

/**
 * Fills a store through the real services: `resources` SPEKE resources of `perResource` keys each (some
 * tenants), a static key, an API key, a policy, a revocation and an audit record per resource. Returns the KIDs by resource.
 */
export async function seedStore(s: SeededStore, resources: number, perResource = 2): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (let i = 0; i < resources; i++) {
    const resourceId = `movie-${i}`;
    const kids = Array.from({ length: perResource }, () => crypto.randomUUID());
    const tenant = i % 3 === 0 ? 'acme' : '*';
    await s.keys.issue({ resourceId, owner: 'encoder', tenant, keys: kids.map((kid) => ({ kid })), rotating: false });
    out.set(resourceId, kids);
    await s.store.audit.append([
      {
        id: crypto.randomUUID(),
        time: new Date(),
        action: 'issue',
        route: 'POST /speke/v2.0/copyProtection',
        resourceId,
        outcome: 'allowed',
        status: 200,
        tenant: 'default',
      },
    ]);
  }
  const staticKid = crypto.randomUUID();
  const sealed = await s.keys.seal('static-1', staticKid, crypto.randomBytes(16), crypto.randomBytes(16), 'static');
  await s.store.staticKeys.put({ resourceId: 'static-1', kid: staticKid, createdAt: new Date() }, sealed, 'acme');
  out.set('static-1', [staticKid]);
  await s.store.apiKeys.put({
    id: 'k1',
    name: 'enc',
    roles: ['encoder'],
    secretHash: crypto.randomBytes(32),
    createdAt: new Date(),
    tenant: 'acme',
  });
  await s.store.policies.put({ resourceId: 'movie-0', allowIps: ['10.0.0.0/8'], updatedAt: new Date() });
  await s.store.revocations.put({
    jti: 'j1',
    tenant: 'acme',
    revokedBy: 'admin',
    revokedAt: new Date(),
    expiresAt: new Date(Date.now() + 3600_000),
  });
  return out;
}

/** Every key of the store, opened: `kid → key‖iv` hex (for comparing two stores). */
export async function openedKeys(s: SeededStore, kidsByResource: Map<string, string[]>): Promise<Map<string, string>> {
  const all = [...kidsByResource.values()].flat();
  const stored = await s.store.keys.get(all);
  const out = new Map<string, string>();
  for (const [kid, key] of stored) {
    const opened = await s.keys.open(key);
    out.set(kid, Buffer.concat([opened.key, opened.iv]).toString('hex'));
  }
  return out;
}
