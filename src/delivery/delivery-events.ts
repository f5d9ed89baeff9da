import type { AuditEvent } from '../audit/audit-log';
import type { KeyplaneError } from '../errors';
import type { DeliveryContext } from './grant';

function who(ctx: DeliveryContext) {
  return {
    ...(ctx.grant.principal === undefined ? {} : { principal: ctx.grant.principal }),
    ...(ctx.client.ip === '' ? {} : { clientIp: ctx.client.ip }),
  };
}

/** The audit events of keys handed out: one per KID, status 200, under the resource owner's tenant. */
export function deliveredEvents(
  ctx: DeliveryContext,
  resourceId: string,
  kids: readonly string[],
  tenant: string,
): AuditEvent[] {
  return kids.map((kid) => ({
    action: 'deliver',
    route: ctx.route,
    resourceId,
    tenant,
    status: 200,
    kid,
    ...who(ctx),
  }));
}

/**
 * The audit event of a refused delivery, with the error's status and reason; none when no resource
 * is known (a Clear Key license from a keyserver names none before its keys are read). `tenant` is
 * the resource owner's when it was read, else the caller's.
 */
export function refusedEvents(
  ctx: DeliveryContext,
  target: { resourceId?: string; kid?: string; tenant: string },
  error: KeyplaneError,
): AuditEvent[] {
  const resourceId = target.resourceId ?? ctx.grant.resourceId;
  if (resourceId === undefined) return [];
  const reason = (error.details.reason as string | undefined) ?? error.code;
  return [
    {
      action: 'deliver',
      route: ctx.route,
      resourceId,
      tenant: target.tenant,
      status: error.status,
      reason,
      ...(target.kid === undefined ? {} : { kid: target.kid }),
      ...who(ctx),
    },
  ];
}
