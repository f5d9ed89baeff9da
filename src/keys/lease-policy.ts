import crypto from 'node:crypto';
import { LeaseConflictError } from '../errors';
import type { Lease } from '../store/records';

/** How many KIDs a lease remembers; a long-running live process keeps only its recent ones. */
export const MAX_LEASE_KIDS = 256;

/** What a SPEKE request asks of a resource ID's lease. */
interface LeaseRequest {
  resourceId: string;
  /** Caller identity: API key id, IAM principal, SigV4 access key. */
  owner: string;
  kids: string[];
  /** The request carries ContentKeyPeriods (live key rotation). */
  rotating: boolean;
  /** Requested KIDs whose keys this resource already has (a full lease may have forgotten them). */
  storedKids?: ReadonlySet<string>;
}

/** The decision: the lease to write (or none when the stored one is fresh enough). */
interface LeaseDecision {
  lease: Lease;
  expectedVersion: number | undefined;
  /** False when the stored lease is unchanged and was renewed recently: no write needed. */
  mustWrite: boolean;
}

/** The largest version every store holds (PostgreSQL's INTEGER); past it versions start again at 1. */
const MAX_LEASE_VERSION = 2 ** 31 - 1;

/**
 * A new lease's first version, drawn at random so a lease released (or swept by DynamoDB TTL) and opened
 * again does not restart at a version a slow request read before the release: that request's conditional
 * write must fail, not take the lease back from the new holder.
 */
export function firstLeaseVersion(): number {
  return crypto.randomInt(1, 2 ** 30);
}

function union(a: string[], b: string[]): string[] {
  const merged = [...new Set([...a, ...b])];
  return merged.slice(Math.max(0, merged.length - MAX_LEASE_KIDS));
}

/**
 * The one-process-per-resource-ID rule. A request belongs to the lease holder's process when
 * it comes from the same owner and either uses only KIDs the process already used (a retry) or
 * rotates keys (ContentKeyPeriods) in a process that rotates. Anything else while the lease is
 * active is a second process: LeaseConflictError (409). `firstVersion` numbers a lease opened where
 * none is stored (see `firstLeaseVersion`).
 */
export function decideLease(
  existing: Lease | undefined,
  req: LeaseRequest,
  now: Date,
  ttlSeconds: number,
  firstVersion: number,
): LeaseDecision {
  const expiresAt = new Date(now.getTime() + ttlSeconds * 1000);
  const fresh = (kids: string[], rotating: boolean): LeaseDecision => ({
    lease: {
      resourceId: req.resourceId,
      owner: req.owner,
      kids,
      rotating,
      expiresAt,
      version: existing === undefined || existing.version >= MAX_LEASE_VERSION ? firstVersion : existing.version + 1,
    },
    expectedVersion: existing?.version,
    mustWrite: true,
  });
  if (!existing || existing.expiresAt.getTime() <= now.getTime()) {
    return fresh(req.kids.slice(-MAX_LEASE_KIDS), req.rotating);
  }
  if (existing.owner !== req.owner) throw new LeaseConflictError(req.resourceId, existing.expiresAt, now);
  const known = new Set(existing.kids);
  // A lease at MAX_LEASE_KIDS dropped its oldest KIDs: a retry of a request with more KIDs than that
  // names some it no longer lists. Keys this resource already has are no new keys, so they count as known.
  const full = existing.kids.length >= MAX_LEASE_KIDS;
  const newKids = req.kids.filter((k) => !known.has(k) && !(full && req.storedKids?.has(k)));
  if (newKids.length > 0 && !(req.rotating && existing.rotating)) {
    throw new LeaseConflictError(req.resourceId, existing.expiresAt, now, existing.kids);
  }
  const renewedRecently = existing.expiresAt.getTime() - now.getTime() >= ttlSeconds * 1000 * 0.9;
  if (newKids.length === 0 && renewedRecently) {
    return { lease: existing, expectedVersion: existing.version, mustWrite: false };
  }
  return fresh(union(existing.kids, newKids), existing.rotating);
}
