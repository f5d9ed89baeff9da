import type { AccessDecision, AccessPolicy } from '../auth/access-policy';
import type { CorsHeaders } from '../auth/origin-matcher';
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

function refused(err: unknown, ctx: DeliveryContext, target: { resourceId?: string; kid?: string }): Refused {
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
  ) {}

  /**
   * One key by resource and KID. The policy and the key are read at the same time (two DynamoDB
   * round trips become one), and a policy refusal wins over a missing key, so a denied caller learns
   * nothing about which KIDs exist.
   */
  async key(ctx: DeliveryContext, resourceId: string, kid: string): Promise<DeliveryOutcome> {
    try {
      checkGrantCovers(ctx.grant, { resourceId, kid });
      const [allowed, found] = await Promise.allSettled([
        this.policy?.check(ctx.client, resourceId),
        this.keys.get(resourceId, kid),
      ]);
      if (allowed.status === 'rejected') throw allowed.reason;
      if (found.status === 'rejected') throw found.reason;
      return {
        ok: true,
        keys: [found.value],
        cors: allowed.value?.cors,
        events: deliveredEvents(ctx, resourceId, [kid]),
      };
    } catch (err) {
      return refused(err, ctx, { resourceId, kid });
    }
  }

  /**
   * The keys of a Clear Key license request: those found (unknown KIDs left out; none → 404), when
   * the grant covers every requested KID and the resource of each found key, and the policy of each
   * resource (the grant's, else each found key's) allows the client.
   */
  async license(ctx: DeliveryContext, kids: readonly string[]): Promise<DeliveryOutcome> {
    try {
      const found = await this.keys.findByKids([...kids]);
      for (const kid of kids) checkGrantCovers(ctx.grant, { kid }, true);
      for (const s of found.values()) checkGrantCovers(ctx.grant, { resourceId: s.resourceId, kid: s.kid }, true);
      const resources =
        ctx.grant.resourceId !== undefined
          ? [ctx.grant.resourceId]
          : [...new Set([...found.values()].map((s) => s.resourceId))];
      let cors: CorsHeaders | undefined;
      for (const resourceId of resources) cors = (await this.policy?.check(ctx.client, resourceId))?.cors ?? cors;
      const stored = kids.flatMap((kid) => found.get(kid) ?? []);
      if (stored.length === 0) throw new NotFoundError('No key for any of the requested KIDs');
      const opened = await Promise.all(stored.map((s) => this.keys.open(s)));
      return { ok: true, keys: opened, cors, events: licenseEvents(ctx, stored) };
    } catch (err) {
      return refused(err, ctx, {});
    }
  }
}

function licenseEvents(ctx: DeliveryContext, stored: StoredKey[]): AuditEvent[] {
  return [...new Set(stored.map((s) => s.resourceId))].flatMap((resourceId) =>
    deliveredEvents(
      ctx,
      resourceId,
      stored.filter((s) => s.resourceId === resourceId).map((s) => s.kid),
    ),
  );
}
