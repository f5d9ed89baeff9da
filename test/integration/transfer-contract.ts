import crypto from 'node:crypto';
import type { Backend } from '../../src/store/backend';
import { identityOf, type TransferRecord, type TransferRepository } from '../../src/store/transfer';

const uid = (): string => crypto.randomUUID();
const at = (ms: number) => new Date(1_700_000_000_000 + ms);

/** One record of every kind, fresh identities (the store may hold others: tests never assume it empty). */
function recordsOfEveryKind(): TransferRecord[] {
  const resourceId = `transfer-${uid()}`;
  return [
    { kind: 'resource', record: { resourceId, tenant: 'acme', kind: 'speke', createdAt: at(1) } },
    {
      kind: 'key',
      record: { kid: uid(), resourceId, sealed: crypto.randomBytes(60), origin: 'speke', createdAt: at(2) },
    },
    { kind: 'staticKey', record: { resourceId: `${resourceId}-s`, kid: uid(), createdAt: at(3) } },
    {
      kind: 'lease',
      record: { resourceId, owner: 'enc', kids: [uid(), uid()], rotating: true, expiresAt: at(4), version: 3 },
    },
    {
      kind: 'apiKey',
      record: {
        id: uid(),
        name: 'n',
        roles: ['encoder'],
        secretHash: crypto.randomBytes(32),
        createdAt: at(5),
        tenant: 'acme',
      },
    },
    {
      kind: 'policy',
      record: { resourceId, allowIps: ['10.0.0.0/8'], allowOrigins: ['https://a.test'], updatedAt: at(6) },
    },
    {
      kind: 'revocation',
      record: {
        jti: uid(),
        tenant: 'acme',
        revokedBy: 'admin',
        revokedAt: at(7),
        expiresAt: new Date(Date.now() + 3600_000),
      },
    },
    {
      kind: 'audit',
      record: {
        id: uid(),
        time: at(8),
        action: 'deliver',
        route: 'GET /keys/{resourceId}/{kid}',
        resourceId,
        outcome: 'allowed',
        status: 200,
        tenant: 'acme',
      },
    },
    // Every other action survives a transfer as itself (an earlier version turned `rotate` into `deliver`).
    ...(['issue', 'revoke', 'rotate', 'grant', 'release', 'configure'] as const).map((action, i): TransferRecord => ({
      kind: 'audit',
      record: {
        id: uid(),
        time: at(9 + i),
        action,
        route: 'DELETE /leases/{resourceId}',
        resourceId,
        principal: 'admin-key',
        outcome: 'denied',
        status: 403,
        reason: 'forbidden',
        tenant: 'acme',
      },
    })),
  ];
}

/** A comparable form: Dates as ms, Buffers as hex, keys sorted. */
function plain(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => {
      if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer') {
        return Buffer.from((v as { data: number[] }).data).toString('hex');
      }
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)));
      }
      return v;
    }),
  );
}

function transferOf(store: Backend): TransferRepository {
  if (!store.transfer) throw new Error(`${store.name} has no Backend.transfer: migrate, import and export need it`);
  return store.transfer;
}

/**
 * The bulk-transfer part of the Backend contract (`Backend.transfer`: migrate, import, export): every kind
 * round-trips through insert and find, insert never overwrites, a paginated scan visits every record once.
 */
export function describeTransferContract(getStore: () => Backend, backendName: string): void {
  describe(`bulk transfer (${backendName})`, () => {
    it('inserts every kind of record if absent and finds it again, field for field', async () => {
      const transfer = transferOf(getStore());
      for (const r of recordsOfEveryKind()) {
        await expect(transfer.insert(r)).resolves.toBeUndefined();
        expect(plain(await transfer.find(r.kind, identityOf(r)))).toEqual(plain(r));
      }
    });

    it('never overwrites: inserting a different record with the same identity returns the existing one', async () => {
      const transfer = transferOf(getStore());
      const [, key] = recordsOfEveryKind() as [TransferRecord, Extract<TransferRecord, { kind: 'key' }>];
      await transfer.insert(key);
      const other: TransferRecord = {
        kind: 'key',
        record: { ...key.record, resourceId: 'elsewhere', sealed: crypto.randomBytes(60) },
      };
      expect(plain(await transfer.insert(other))).toEqual(plain(key));
      expect(plain(await transfer.find('key', key.record.kid))).toEqual(plain(key));
    });

    it('scans in pages: every record exactly once, whatever the page size', async () => {
      const transfer = transferOf(getStore());
      const mine = recordsOfEveryKind();
      for (const r of mine) await transfer.insert(r);
      const wanted = new Set(mine.map((r) => `${r.kind}:${identityOf(r)}`));
      const seen = new Map<string, number>();
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await transfer.scan(cursor, 3);
        expect(page.records.length).toBeLessThanOrEqual(3);
        for (const r of page.records) {
          const id = `${r.kind}:${identityOf(r)}`;
          if (wanted.has(id)) seen.set(id, (seen.get(id) ?? 0) + 1);
        }
        cursor = page.next;
        pages += 1;
      } while (cursor !== undefined);
      expect(pages).toBeGreaterThan(2);
      expect([...wanted].map((id) => [id, seen.get(id)])).toEqual([...wanted].map((id) => [id, 1]));
    });

    it('lists the keys of one resource and no other', async () => {
      const transfer = transferOf(getStore());
      const resourceId = `transfer-keys-${uid()}`;
      const keys = [1, 2, 3].map((i) => ({
        kid: uid(),
        resourceId,
        sealed: crypto.randomBytes(60),
        origin: 'speke' as const,
        createdAt: at(i),
      }));
      for (const record of keys) await transfer.insert({ kind: 'key', record });
      await transfer.insert({
        kind: 'key',
        record: { ...(keys[0] as (typeof keys)[0]), kid: uid(), resourceId: `${resourceId}-other` },
      });
      expect(plain(await transfer.keysOf(resourceId, 10))).toEqual(plain(keys));
      expect(await transfer.keysOf(resourceId, 2)).toHaveLength(2);
    });
  });
}
