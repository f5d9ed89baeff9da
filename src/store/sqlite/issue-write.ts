import type Database from 'better-sqlite3';
import { ResourceRaceError } from '../ownership';
import { KeyRaceError, LeaseRaceError, type IssueCommit, type Lease } from '../records';

/** A `leases` row as SQLite returns it. */
export interface LeaseRow {
  resource_id: string;
  owner: string;
  kids: string;
  rotating: number;
  expires_at: number;
  version: number;
}

/** The lease a row holds. */
export const toLease = (r: LeaseRow): Lease => ({
  resourceId: r.resource_id,
  owner: r.owner,
  kids: JSON.parse(r.kids) as string[],
  rotating: r.rotating === 1,
  expiresAt: new Date(r.expires_at),
  version: r.version,
});

/** The statements of an issuance write, shared by the event loop's connection and the writer thread's. */
export const ISSUE_SQL = {
  leaseGet: 'SELECT * FROM leases WHERE resource_id = ?',
  leaseInsert:
    'INSERT OR IGNORE INTO leases (resource_id, owner, kids, rotating, expires_at, version) VALUES (?, ?, ?, ?, ?, ?)',
  leaseUpdate:
    'UPDATE leases SET owner = ?, kids = ?, rotating = ?, expires_at = ?, version = ? WHERE resource_id = ? AND version = ?',
  keyInsert: 'INSERT OR IGNORE INTO keys (kid, resource_id, sealed, origin, created_at) VALUES (?, ?, ?, ?, ?)',
  resourceGet: 'SELECT * FROM resources WHERE resource_id = ?',
  resourceInsert: 'INSERT OR IGNORE INTO resources (resource_id, tenant, kind, created_at) VALUES (?, ?, ?, ?)',
} as const;

/** ISSUE_SQL prepared on one connection. */
export type IssueStatements = { readonly [K in keyof typeof ISSUE_SQL]: Database.Statement };

/** Prepares ISSUE_SQL on a connection. */
export function prepareIssue(db: Database.Database): IssueStatements {
  const out: Partial<Record<keyof typeof ISSUE_SQL, Database.Statement>> = {};
  for (const [name, sql] of Object.entries(ISSUE_SQL)) out[name as keyof typeof ISSUE_SQL] = db.prepare(sql);
  return out as IssueStatements;
}

/** An IssueCommit as plain data (bound parameters), so it can cross to the writer thread. */
export interface IssueOp {
  resourceId: string;
  /** The lease's owner, kids (JSON), rotating (0/1), expiry (ms) and version. */
  lease: [string, string, number, number, number];
  expectedVersion: number | null;
  /** kid, resource ID, sealed key (its own copy), origin, created at (ms). */
  keys: [string, string, Uint8Array, string, number][];
  claim: { expected: 'absent' | 'present'; tenant: string; kind: string; at: number };
}

/** Why an issuance write did not happen: another writer got there first. */
export type IssueRace =
  { race: 'lease'; current: LeaseRow | undefined } | { race: 'key'; kid: string } | { race: 'resource' };

/** The bound parameters of an IssueCommit. */
export function issueOp(commit: IssueCommit): IssueOp {
  const { lease } = commit;
  return {
    resourceId: lease.resourceId,
    lease: [lease.owner, JSON.stringify(lease.kids), lease.rotating ? 1 : 0, lease.expiresAt.getTime(), lease.version],
    expectedVersion: commit.expectedLeaseVersion ?? null,
    keys: commit.newKeys.map((k) => [k.kid, k.resourceId, new Uint8Array(k.sealed), k.origin, k.createdAt.getTime()]),
    claim: { ...commit.claim, at: (commit.newKeys[0]?.createdAt ?? new Date()).getTime() },
  };
}

/**
 * Writes a lease (insert when none was expected, else an update conditional on the version read), the new
 * keys (each only if absent) and the resource's claim, inside a savepoint the caller opened; returns the
 * race that stops it, and the caller rolls the savepoint back. Self-contained (no imports, no closures):
 * the writer thread runs this very function's source.
 */
export function runIssue(s: IssueStatements, op: IssueOp): IssueRace | undefined {
  const res =
    op.expectedVersion === null
      ? s.leaseInsert.run(op.resourceId, ...op.lease)
      : s.leaseUpdate.run(...op.lease, op.resourceId, op.expectedVersion);
  if (res.changes === 0) return { race: 'lease', current: s.leaseGet.get(op.resourceId) as LeaseRow | undefined };
  for (const [kid, resourceId, sealed, origin, createdAt] of op.keys) {
    const blob = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    if (s.keyInsert.run(kid, resourceId, blob, origin, createdAt).changes === 0) return { race: 'key', kid };
  }
  return runClaim(s, op.resourceId, op.claim) ? undefined : { race: 'resource' };
}

/**
 * Makes or checks a resource's claim inside the caller's write: inserts it when it is expected absent,
 * else checks the stored owner and kind; false when another writer got there first. Self-contained, like
 * runIssue, which calls it (the writer thread embeds both).
 */
export function runClaim(
  s: Pick<IssueStatements, 'resourceGet' | 'resourceInsert'>,
  resourceId: string,
  claim: IssueOp['claim'],
): boolean {
  const { expected, tenant, kind, at } = claim;
  if (expected === 'absent') return s.resourceInsert.run(resourceId, tenant, kind, at).changes > 0;
  const row = s.resourceGet.get(resourceId) as { tenant: string; kind: string } | undefined;
  return row !== undefined && row.tenant === tenant && row.kind === kind;
}

/** The error a race means to the key service (it re-reads and decides: retry, 409 or the existing keys). */
export function raceError(resourceId: string, race: IssueRace): Error {
  if (race.race === 'lease') return new LeaseRaceError(resourceId, race.current && toLease(race.current));
  if (race.race === 'key') return new KeyRaceError(race.kid);
  return new ResourceRaceError(resourceId);
}
