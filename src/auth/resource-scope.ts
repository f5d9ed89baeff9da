import { mayAct } from '../domain/tenants';
import { AccessDeniedError } from './delivery-errors';

/** The owner of a resource as the scope checks need it: its tenant (the store's ResourceOwner fits). */
export interface OwnerOf {
  tenant: string;
}

/** Reads a resource's owner; `Backend.resources` fits. One read per check, never a scan. */
export interface OwnerReader {
  get(resourceId: string): Promise<OwnerOf | undefined>;
}

/**
 * The one "this resource is another tenant's" refusal: 403 with reason `resource_not_yours`. It never
 * names the owner, so a caller learns only that the ID is taken (which SPEKE would tell it anyway).
 */
function notYourResource(resourceId: string): AccessDeniedError {
  return new AccessDeniedError(
    'resource_not_yours',
    `Resource "${resourceId}" belongs to another tenant; this credential cannot act on it`,
  );
}

/**
 * Checks an owner read against the caller's tenant: 403 when another tenant owns the resource,
 * otherwise the owner (undefined when nobody does: the caller decides whether that is a 404).
 */
export function checkOwner(resourceId: string, owner: OwnerOf | undefined, callerTenant: string): OwnerOf | undefined {
  if (owner && !mayAct(callerTenant, owner.tenant)) throw notYourResource(resourceId);
  return owner;
}

/** Reads the owner and checks it (see checkOwner). */
export async function ownedBy(
  owners: OwnerReader,
  resourceId: string,
  callerTenant: string,
): Promise<OwnerOf | undefined> {
  return checkOwner(resourceId, await owners.get(resourceId), callerTenant);
}
