import { ConflictError, ServiceUnavailableError } from '../../../src/errors';
import type { Backend } from '../../../src/store/backend';
import { dynamoOutage } from '../../../src/store/dynamodb/errors';
import { mapBackendOutages, type OutageClassifier } from '../../../src/store/outage';
import { LeaseRaceError } from '../../../src/store/records';
import { withAuditRetention } from '../../../src/store/retention';
import { sqliteOutage } from '../../../src/store/sqlite/errors';

const DAY = 24 * 3600 * 1000;

/** A backend whose every method (ping and close included) throws `err`, counting calls. */
function failingBackend(err: unknown): { backend: Backend; calls: string[] } {
  const calls: string[] = [];
  const fail = (name: string) => async () => {
    calls.push(name);
    throw err;
  };
  const repo = (name: string, methods: string[]) =>
    Object.fromEntries(methods.map((m) => [m, fail(`${name}.${m}`)])) as never;
  const backend: Backend = {
    name: 'fake',
    keys: repo('keys', ['get']),
    leases: repo('leases', ['get', 'commitIssue', 'delete']),
    staticKeys: repo('staticKeys', ['get', 'put']),
    apiKeys: repo('apiKeys', ['put', 'get', 'list', 'revoke']),
    audit: repo('audit', ['append', 'query']),
    policies: repo('policies', ['get', 'put', 'delete']),
    revocations: repo('revocations', ['put', 'get']),
    resources: repo('resources', ['get']),
    tenants: repo('tenants', ['list']),
    transfer: { ...(repo('transfer', ['scan', 'find', 'insert', 'keysOf']) as object), keysOfScansAll: true } as never,
    ping: fail('ping'),
    close: fail('close'),
  };
  return { backend, calls };
}

/** Every call a Backend offers, with throwaway arguments (the fake ignores them). */
function everyCall(b: Backend): Array<() => Promise<unknown>> {
  const any = undefined as never;
  return [
    () => b.keys.get([]),
    () => b.leases.get('r'),
    () => b.leases.commitIssue(any),
    () => b.leases.delete('r'),
    () => b.staticKeys.get('r'),
    () => b.staticKeys.put(any, any, any),
    () => b.apiKeys.put(any),
    () => b.apiKeys.get('i'),
    () => b.apiKeys.list(),
    () => b.apiKeys.revoke('i', new Date()),
    () => b.audit.append([]),
    () => b.audit.query({ limit: 1 }),
    () => b.resources.get('r'),
    () => b.tenants.list(),
    () => b.policies.get('r'),
    () => b.policies.put(any),
    () => b.policies.delete('r'),
    () => b.revocations.put(any),
    () => b.revocations.get('j'),
    () => b.transfer?.scan(undefined, 1) ?? Promise.resolve(),
    () => b.transfer?.find('key', 'k') ?? Promise.resolve(),
    () => b.transfer?.insert(any) ?? Promise.resolve(),
    () => b.transfer?.keysOf('r', 1) ?? Promise.resolve(),
    () => b.ping(),
  ];
}

const busy: OutageClassifier = (err) =>
  (err as { code?: string }).code === 'BUSY' ? new ServiceUnavailableError('busy', 2, err) : undefined;

describe('mapBackendOutages', () => {
  it('maps an outage from every repository method and ping to ServiceUnavailableError', async () => {
    const { backend, calls } = failingBackend(Object.assign(new Error('locked'), { code: 'BUSY' }));
    const mapped = mapBackendOutages(backend, busy);
    for (const call of everyCall(mapped)) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ServiceUnavailableError);
      expect((err as ServiceUnavailableError).headers['Retry-After']).toBe('2');
    }
    expect(calls).toHaveLength(24);
    expect(mapped.name).toBe('fake');
    expect(mapped.transfer?.keysOfScansAll).toBe(true);
  });

  it('passes races, Keyplane errors and bugs through unchanged, and leaves close alone', async () => {
    for (const original of [new LeaseRaceError('r'), new ConflictError('taken'), new TypeError('bug')]) {
      const mapped = mapBackendOutages(failingBackend(original).backend, busy);
      for (const call of everyCall(mapped)) await expect(call()).rejects.toBe(original);
    }
    const outage = Object.assign(new Error('locked'), { code: 'BUSY' });
    await expect(mapBackendOutages(failingBackend(outage).backend, busy).close()).rejects.toBe(outage);
  });
});

describe('outage classifiers', () => {
  it('SQLite: busy, locked, I/O, full and unreadable files are 503s; constraints are not', () => {
    for (const code of ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR_WRITE', 'SQLITE_FULL', 'SQLITE_CANTOPEN']) {
      const mapped = sqliteOutage(Object.assign(new Error(code), { code }));
      expect(mapped).toBeInstanceOf(ServiceUnavailableError);
      expect(mapped?.message).toBe(`Key store unavailable (${code})`);
      expect(mapped?.headers['Retry-After']).toBe('2');
    }
    expect(sqliteOutage(Object.assign(new Error('dup'), { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' }))).toBeUndefined();
    expect(sqliteOutage(new Error('plain'))).toBeUndefined();
    expect(sqliteOutage(null)).toBeUndefined();
  });

  it('DynamoDB: throttling retries after 1 s, outages after 5 s; conditional failures are not outages', () => {
    const named = (name: string) => Object.assign(new Error(name), { name });
    expect(dynamoOutage(named('ThrottlingException'))?.headers['Retry-After']).toBe('1');
    expect(dynamoOutage(named('ResourceNotFoundException'))?.headers['Retry-After']).toBe('5');
    expect(dynamoOutage(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))?.message).toBe(
      'DynamoDB unavailable: ECONNREFUSED',
    );
    expect(dynamoOutage(Object.assign(named('Whatever'), { $fault: 'server' }))).toBeInstanceOf(
      ServiceUnavailableError,
    );
    expect(dynamoOutage(named('ConditionalCheckFailedException'))).toBeUndefined();
    expect(dynamoOutage(named('TransactionCanceledException'))).toBeUndefined();
  });
});

describe('withAuditRetention', () => {
  const now = new Date('2026-03-10T12:00:00.000Z');
  const seen: unknown[] = [];
  const inner = { append: async () => undefined, query: async (q: unknown) => (seen.push(q), { records: [] }) };
  beforeEach(() => (seen.length = 0));

  it('raises `since` to the cutoff, keeps a later one, and forwards appends', async () => {
    const audit = withAuditRetention(inner, { retentionDays: 7, now: () => now });
    await audit.query({ limit: 5 });
    await audit.query({ limit: 5, since: new Date(now.getTime() - 8 * DAY) });
    await audit.query({ limit: 5, since: new Date(now.getTime() - DAY), resourceId: 'r' });
    expect(seen).toEqual([
      { limit: 5, since: new Date(now.getTime() - 7 * DAY) },
      { limit: 5, since: new Date(now.getTime() - 7 * DAY) },
      { limit: 5, since: new Date(now.getTime() - DAY), resourceId: 'r' },
    ]);
    await expect(audit.append([])).resolves.toBeUndefined();
  });

  it('is the repository itself when records are kept forever', () => {
    expect(withAuditRetention(inner, { now: () => now })).toBe(inner);
  });
});
