import crypto from 'node:crypto';
import type { AuditQuery, AuditRecord } from '../../src/audit/audit-record';
import type { Backend } from '../../src/store/backend';
import type { BackendFixture, MakeBackend } from './store-contract';

const uid = (): string => crypto.randomUUID();
const DAY_MS = 24 * 3600 * 1000;

function record(resourceId: string, time: Date, overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    id: uid(),
    time,
    action: 'deliver',
    route: 'GET /keys/{resourceId}/{kid}',
    resourceId,
    kid: uid(),
    principal: 'token:abc',
    outcome: 'allowed',
    status: 200,
    clientIp: '203.0.113.7',
    ...overrides,
  };
}

const comparable = (r: AuditRecord) => ({ ...r, time: r.time.getTime() });

/** Follows `next` until the end, collecting every record (bounded, so a broken cursor cannot loop forever). */
async function readAll(store: Backend, query: Omit<AuditQuery, 'cursor'>): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  let cursor: AuditQuery['cursor'];
  for (let page = 0; page < 200; page++) {
    const result = await store.audit.query({ ...query, cursor });
    expect(result.records.length).toBeLessThanOrEqual(query.limit);
    out.push(...result.records);
    if (!result.next) return out;
    cursor = result.next;
  }
  throw new Error('audit pagination did not end');
}

/** A store that keeps audit records `days` days, judged by a clock the test moves. */
async function retainingStore(makeStore: MakeBackend, days: number, start: number) {
  let now = start;
  const fixture: BackendFixture = await makeStore({ auditRetentionDays: days, now: () => new Date(now) });
  return { ...fixture, advance: (ms: number) => (now += ms) };
}

/**
 * The audit part of the Backend contract; `getStore` returns the store of the current test (audit kept
 * forever), `makeStore` makes stores with other settings (retention, clock).
 */
export function describeAuditContract(getStore: () => Backend, makeStore: MakeBackend): void {
  describe('audit retention', () => {
    it('never reads records older than the retention, removed yet or not; the cutoff itself is kept', async () => {
      const t = Date.now();
      const { store, cleanup, advance } = await retainingStore(makeStore, 30, t);
      try {
        const rid = uid();
        const [expired, atCutoff, fresh, newest] = [31 * DAY_MS, 30 * DAY_MS, 29 * DAY_MS, 1000].map((age) =>
          record(rid, new Date(t - age)),
        ) as [AuditRecord, AuditRecord, AuditRecord, AuditRecord];
        await store.audit.append([expired, atCutoff, fresh, newest]);
        const ids = (records: AuditRecord[]) => records.map((r) => r.id);
        expect(ids(await readAll(store, { resourceId: rid, limit: 2 }))).toEqual(ids([atCutoff, fresh, newest]));
        advance(1);
        expect(ids(await readAll(store, { resourceId: rid, limit: 10 }))).toEqual(ids([fresh, newest]));
        const oldSince = { resourceId: rid, since: new Date(t - 400 * DAY_MS), limit: 10 };
        expect(ids(await readAll(store, oldSince))).toEqual(ids([fresh, newest]));
        const oldCursor = await store.audit.query({ ...oldSince, cursor: { time: expired.time, id: '' } });
        expect(ids(oldCursor.records)).toEqual(ids([fresh, newest]));
        const global = await readAll(store, { limit: 50 });
        expect(ids(global.filter((r) => r.resourceId === rid))).toEqual(ids([fresh, newest]));
        expect(global.every((r) => r.time.getTime() >= t + 1 - 30 * DAY_MS)).toBe(true);
      } finally {
        await cleanup();
      }
    });

    it('drops records from reads as the clock passes their retention', async () => {
      const t = Date.now();
      const { store, cleanup, advance } = await retainingStore(makeStore, 1, t);
      try {
        const rid = uid();
        const older = record(rid, new Date(t - 1000));
        const newer = record(rid, new Date(t));
        await store.audit.append([older, newer]);
        expect((await store.audit.query({ resourceId: rid, limit: 10 })).records).toHaveLength(2);
        advance(DAY_MS - 500);
        expect((await store.audit.query({ resourceId: rid, limit: 10 })).records.map((r) => r.id)).toEqual([newer.id]);
        advance(1000);
        expect((await store.audit.query({ resourceId: rid, limit: 10 })).records).toEqual([]);
      } finally {
        await cleanup();
      }
    });

    it('keeps records forever without a retention', async () => {
      const store = getStore();
      const rid = uid();
      const ancient = record(rid, new Date(Date.now() - 3 * 365 * DAY_MS));
      await store.audit.append([ancient]);
      const page = await store.audit.query({ resourceId: rid, limit: 10 });
      expect(page.records.map(comparable)).toEqual([comparable(ancient)]);
    });
  });

  describe('audit', () => {
    it('appends records and reads one resource back in (time, id) order, optional fields as written', async () => {
      const store = getStore();
      const rid = uid();
      const t0 = Date.now() - 60_000;
      const a = record(rid, new Date(t0 + 2), { outcome: 'denied', status: 403, reason: 'token_resource_mismatch' });
      const b = record(rid, new Date(t0));
      const c = record(rid, new Date(t0 + 1), { action: 'issue', route: 'POST /copyProtection', principal: 'enc' });
      const bare: AuditRecord = { ...record(rid, new Date(t0 + 3)), kid: undefined, principal: undefined };
      delete bare.kid;
      delete bare.principal;
      delete bare.clientIp;
      await store.audit.append([a, b]);
      await store.audit.append([c, bare]);
      await store.audit.append([]);
      await store.audit.append([record(uid(), new Date(t0))]);
      const page = await store.audit.query({ resourceId: rid, limit: 10 });
      expect(page.records.map(comparable)).toEqual([b, c, a, bare].map(comparable));
      expect(page.next).toBeUndefined();
    });

    it('reads every action back as written', async () => {
      const store = getStore();
      const rid = uid();
      const t0 = Date.now() - 60_000;
      const actions = ['issue', 'deliver', 'revoke', 'rotate', 'grant', 'release', 'configure'] as const;
      const records = actions.map((action, i) => record(rid, new Date(t0 + i), { action }));
      await store.audit.append(records);
      const page = await store.audit.query({ resourceId: rid, limit: 10 });
      expect(page.records.map((r) => r.action)).toEqual([...actions]);
    });

    it('orders records of the same millisecond by id and pages through them without gaps or repeats', async () => {
      const store = getStore();
      const rid = uid();
      const time = new Date(Date.now() - 30_000);
      const records = Array.from({ length: 23 }, (_, i) => record(rid, new Date(time.getTime() + (i % 3))));
      await store.audit.append(records);
      const read = await readAll(store, { resourceId: rid, limit: 5 });
      const expected = [...records].sort((x, y) => x.time.getTime() - y.time.getTime() || (x.id < y.id ? -1 : 1));
      expect(read.map((r) => r.id)).toEqual(expected.map((r) => r.id));
    });

    it('honours since (inclusive) for one resource', async () => {
      const store = getStore();
      const rid = uid();
      const t0 = Date.now() - 10_000;
      const records = [0, 1000, 2000, 3000].map((ms) => record(rid, new Date(t0 + ms)));
      await store.audit.append(records);
      const read = await readAll(store, { resourceId: rid, since: new Date(t0 + 1000), limit: 2 });
      expect(read.map((r) => r.id)).toEqual(records.slice(1).map((r) => r.id));
    });

    it('reads all resources from since on, across a day boundary, in order', async () => {
      const store = getStore();
      const midnight = Math.floor(Date.now() / DAY_MS) * DAY_MS;
      const marker = uid();
      const times = [midnight - 5, midnight - 1, midnight, midnight + 1];
      const mine = times.map((t) => record(`${marker}-${t % 2}`, new Date(t), { principal: marker }));
      await store.audit.append(mine);
      const early = record(uid(), new Date(midnight - 20), { principal: marker });
      await store.audit.append([early]);
      const read = await readAll(store, { since: new Date(midnight - 5), limit: 50 });
      const ours = read.filter((r) => r.principal === marker);
      expect(ours.map((r) => r.id)).toEqual(mine.map((r) => r.id));
      const keys = read.map((r) => [r.time.getTime(), r.id] as const);
      const sorted = [...keys].sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : 1));
      expect(keys).toEqual(sorted);
    });
  });
}
