import type { AccessDecision, AccessPolicy } from '../auth/access-policy';
import type { CorsHeaders } from '../auth/origin-matcher';
import { checkOwner, type OwnerOf, type OwnerReader } from '../auth/resource-scope';
import { claimingTenant, DEFAULT_TENANT } from '../domain/tenants';
import type { AuditEvent } from '../audit/audit-log';
import { KeyplaneError, NotFoundError } from '../errors';
import type { IssuedKey, KeyService } from '../keys/key-service';
import type { StoredKey } from '../store/records';
import { deliveredEvents, refusedEvents } from './delivery-events';
import { checkGrantCovers, type DeliveryContext } from './grant';

/** Keys handed out, the CORS headers the response carries (if any) and the audit events to record first. */
export interface Delivered {
  ok: true;
  keys: IssuedKey[];
  cors?: CorsHeaders;
  events: AuditEvent[];
}

/** A refusal (policy, grant, unknown key) and its audit events; the caller records them, then answers with the error. */
export interface Refused {
  ok: false;
  error: KeyplaneError;
  events: AuditEvent[];
}

/** What every key fetch ends in. */
export type DeliveryOutcome = Delivered | Refused;

/**
 * Whether a grant may use a resource at all (the playlist route: no keys yet): grant scope, then the
 * access policy. Throws 403; returns the policy's CORS decision.
 */
export async function authorizeResource(
  policy: AccessPolicy | undefined,
  ctx: DeliveryContext,
  resourceId: string,
): Promise<AccessDecision> {
  checkGrantCovers(ctx.grant, { resourceId });
  return (await policy?.check(ctx.client, resourceId)) ?? {};
}

function refused(
  err: unknown,
  ctx: DeliveryContext,
  target: { resourceId?: string; kid?: string; tenant: string },
): Refused {
  // Anything else is a fault, not a refusal: it propagates, and the app's error path audits it as such.
  if (!(err instanceof KeyplaneError)) throw err;
  return { ok: false, error: err, events: refusedEvents(ctx, target, err) };
}

/**
 * The one entry point of key delivery, for every route that hands out keys (`/keys`, `/playback`,
 * `/secure`, `/clearkey/license`): checks the grant covers the request, applies the access policy,
 * reads the keys through KeyService, and says what to send, which CORS headers to add and what to
 * audit. It never sees a request or a response.
 */
export class KeyDelivery {
  constructor(
    private readonly keys: KeyService,
    private readonly policy?: AccessPolicy,
    private readonly owners?: OwnerReader,
  ) {}

  /** The owner of a resource (undefined: nobody, or no owner store); one read. */
  private async ownerOf(resourceId: string): Promise<OwnerOf | undefined> {
    return this.owners?.get(resourceId);
  }

  /**
   * One key by resource and KID. The policy, the resource's owner and the key are read at the same
   * time (one DynamoDB round trip, not three); a policy refusal wins over another tenant's resource,
   * which wins over a missing key, so a denied caller learns nothing about which KIDs exist.
   */
  async key(ctx: DeliveryContext, resourceId: string, kid: string): Promise<DeliveryOutcome> {
    let tenant = callerTenant(ctx);
    try {
      checkGrantCovers(ctx.grant, { resourceId, kid });
      const [allowed, owner, found] = await Promise.allSettled([
        this.policy?.check(ctx.client, resourceId),
        this.ownerOf(resourceId),
        this.keys.get(resourceId, kid),
      ]);
      if (allowed.status === 'rejected') throw allowed.reason;
      if (owner.status === 'rejected') throw owner.reason;
      tenant = owner.value?.tenant ?? tenant;
      checkScope(ctx, resourceId, owner.value);
      if (found.status === 'rejected') throw found.reason;
      return {
        ok: true,
        keys: [found.value],
        cors: allowed.value?.cors,
        events: deliveredEvents(ctx, resourceId, [kid], tenant),
      };
    } catch (err) {
      return refused(err, ctx, { resourceId, kid, tenant });
    }
  }

  /**
   * The keys of a Clear Key license request: those found (unknown KIDs left out; none → 404), when
   * the grant covers every requested KID and the resource of each found key, and the policy of each
   * resource (the grant's, else each found key's) allows the client.
   */
  async license(ctx: DeliveryContext, kids: readonly string[]): Promise<DeliveryOutcome> {
    let tenant = callerTenant(ctx);
    let refusedResource: string | undefined;
    const tenants = new Map<string, string>();
    try {
      const found = await this.keys.findByKids([...kids]);
      for (const kid of kids) checkGrantCovers(ctx.grant, { kid }, true);
      for (const s of found.values()) checkGrantCovers(ctx.grant, { resourceId: s.resourceId, kid: s.kid }, true);
      const resources =
        ctx.grant.resourceId !== undefined
          ? [ctx.grant.resourceId]
          : [...new Set([...found.values()].map((s) => s.resourceId))];
      // Each resource's owner and policy, read at the same time; a policy refusal wins, then the scope.
      const [owners, decisions] = await Promise.all([
        Promise.allSettled(resources.map((r) => this.ownerOf(r))),
        Promise.all(resources.map((r) => this.policy?.check(ctx.client, r))),
      ]);
      resources.forEach((resourceId, i) => {
        const owner = owners[i] as PromiseSettledResult<OwnerOf | undefined>;
        if (owner.status === 'rejected') throw owner.reason;
        if (ctx.grant.resourceId === resourceId) tenant = owner.value?.tenant ?? tenant;
        // A keyserver refused another tenant's resource is audited under that resource.
        refusedResource = ctx.grant.resourceId === undefined ? resourceId : undefined;
        tenants.set(resourceId, owner.value?.tenant ?? tenant);
        checkScope(ctx, resourceId, owner.value);
      });
      refusedResource = undefined;
      const cors = decisions.reduce<CorsHeaders | undefined>((last, d) => d?.cors ?? last, undefined);
      const stored = kids.flatMap((kid) => found.get(kid) ?? []);
      if (stored.length === 0) throw new NotFoundError('No key for any of the requested KIDs');
      const opened = await Promise.all(stored.map((s) => this.keys.open(s)));
      return { ok: true, keys: opened, cors, events: licenseEvents(ctx, stored, tenants, tenant) };
    } catch (err) {
      const resourceTenant = refusedResource === undefined ? tenant : (tenants.get(refusedResource) ?? tenant);
      return refused(err, ctx, { resourceId: refusedResource, tenant: resourceTenant });
    }
  }
}

/** The tenant a delivery's audit records fall under until the resource's owner is known. */
function callerTenant(ctx: DeliveryContext): string {
  return claimingTenant(ctx.grant.tenant ?? DEFAULT_TENANT);
}

/**
 * The tenant scope of a delivery: a grant acting for a tenant opens only that tenant's resources
 * (`*`: all), 403 `resource_not_yours` otherwise. For a playback token this is defence in depth: its
 * issuer was already checked when it was minted. Grants for no tenant (secure links) are not scoped.
 */
function checkScope(ctx: DeliveryContext, resourceId: string, owner: OwnerOf | undefined): void {
  if (ctx.grant.tenant !== undefined) checkOwner(resourceId, owner, ctx.grant.tenant);
}

function licenseEvents(
  ctx: DeliveryContext,
  stored: StoredKey[],
  tenants: ReadonlyMap<string, string>,
  fallback: string,
): AuditEvent[] {
  return [...new Set(stored.map((s) => s.resourceId))].flatMap((resourceId) =>
    deliveredEvents(
      ctx,
      resourceId,
      stored.filter((s) => s.resourceId === resourceId).map((s) => s.kid),
      tenants.get(resourceId) ?? fallback,
    ),
  );
}
