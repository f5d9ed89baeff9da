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
  /** Requested KIDs whose keys this resource already has (a lease may have dropped them; see decideLease). */
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
  const opened = !existing || existing.expiresAt.getTime() <= now.getTime();
  // An opened lease (none stored, expired, or a lease-free placeholder) starts at a random version: never
  // one a request that read an earlier holder's lease may still expect. A renewal counts up.
  const version = (() => {
    if (!existing) return firstVersion;
    if (opened) return firstVersion === existing.version ? (firstVersion % MAX_LEASE_VERSION) + 1 : firstVersion;
    return existing.version >= MAX_LEASE_VERSION ? firstVersion : existing.version + 1;
  })();
  const fresh = (kids: string[], rotating: boolean): LeaseDecision => ({
    lease: { resourceId: req.resourceId, owner: req.owner, kids, rotating, expiresAt, version },
    expectedVersion: existing?.version,
    mustWrite: true,
  });
  if (opened) return fresh(req.kids.slice(-MAX_LEASE_KIDS), req.rotating);
  if (existing.owner !== req.owner) throw new LeaseConflictError(req.resourceId, existing.expiresAt, now);
  const known = new Set(existing.kids);
  // A lease keeps a request's last MAX_LEASE_KIDS KIDs: a retry of a request with more names some it no
  // longer lists. Only that retry (its last KIDs all in the lease) may count KIDs whose keys the resource
  // already has as known; any other request with an unlisted KID is a second process, as before.
  const oversizedRetry = req.kids.length > MAX_LEASE_KIDS && req.kids.slice(-MAX_LEASE_KIDS).every((k) => known.has(k));
  const newKids = req.kids.filter((k) => !known.has(k) && !(oversizedRetry && req.storedKids?.has(k)));
  if (newKids.length > 0 && !(req.rotating && existing.rotating)) {
    throw new LeaseConflictError(req.resourceId, existing.expiresAt, now, existing.kids);
  }
  const renewedRecently = existing.expiresAt.getTime() - now.getTime() >= ttlSeconds * 1000 * 0.9;
  if (newKids.length === 0 && renewedRecently) {
    return { lease: existing, expectedVersion: existing.version, mustWrite: false };
  }
  return fresh(union(existing.kids, newKids), existing.rotating);
}
