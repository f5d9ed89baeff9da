import type { IncomingMessage } from 'node:http';
import type { Authenticator } from './credential-source';
import { tenantOfArn, type IamTenantRule } from './iam-tenants';
import type { Principal, Role } from './principal';
import { ForbiddenError } from '../errors';

/** The caller API Gateway authenticated with SigV4 (`AWS_IAM` authorization on the method). */
interface IamIdentity {
  /** e.g. `arn:aws:sts::123456789012:assumed-role/KeyplaneMediaConvert/session`. */
  userArn: string;
  /** The principal's unique ID (`AROA...:session` or `AIDA...`). */
  caller: string;
}

/** An IAM or STS principal ARN, as API Gateway puts in `requestContext.identity.userArn`. */
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:(iam|sts)::\d{12}:\S+$/;

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function objectField(value: unknown, field: string): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const inner = (value as Record<string, unknown>)[field];
  return typeof inner === 'object' && inner !== null ? (inner as Record<string, unknown>) : undefined;
}

/**
 * The IAM identity of a REST API (v1) Lambda proxy event, or undefined when the method was not
 * IAM-authorized. Only API Gateway writes `requestContext`; nothing a client sends ends up there.
 */
function iamIdentityOf(event: unknown): IamIdentity | undefined {
  if (typeof event !== 'object' || event === null || (event as { version?: unknown }).version === '2.0') {
    return undefined;
  }
  const identity = objectField(objectField(event, 'requestContext'), 'identity');
  const userArn = identity?.userArn;
  const caller = identity?.caller;
  if (!nonEmptyString(userArn) || !PRINCIPAL_ARN.test(userArn) || !nonEmptyString(caller)) return undefined;
  return { userArn, caller };
}

/**
 * The principal an IAM caller becomes: an encoder whose ARN also owns its SPEKE leases, in the tenant
 * the first matching `KEYPLANE_IAM_TENANTS` rule names (`default` when there are no rules). With rules,
 * a caller none of them names is refused (403): API Gateway lets in any principal of the account whose
 * own policy allows execute-api:Invoke, and such a caller must not become some tenant's encoder.
 */
export function iamPrincipal(identity: IamIdentity, tenants: readonly IamTenantRule[] = []): Principal {
  const tenant = tenantOfArn(tenants, identity.userArn);
  if (tenant === undefined) {
    throw new ForbiddenError(
      `IAM principal ${identity.userArn} matches no KEYPLANE_IAM_TENANTS rule, so it is no tenant's encoder`,
    );
  }
  return { id: `iam:${identity.userArn}`, roles: new Set<Role>(['encoder']), via: 'iam', tenant };
}

/** Carries the IAM identity from a Lambda event to the request built from it, and authenticates by it. */
interface ApiGatewayIam {
  /** serverless-http `request` hook: `(req, event) => capture(req, event)`. */
  capture: (req: IncomingMessage, event: unknown) => void;
  /** Recognises requests whose event carried an IAM identity; undefined for all others. */
  authenticator: Authenticator<IncomingMessage>;
}

/**
 * API Gateway IAM authentication for the Lambda entry point. The identity is kept beside the
 * request object (never in a header a client could forge) and read back by the authenticator.
 */
export function apiGatewayIam(tenants: readonly IamTenantRule[] = []): ApiGatewayIam {
  const identities = new WeakMap<IncomingMessage, IamIdentity>();
  return {
    capture: (req, event) => {
      const identity = iamIdentityOf(event);
      if (identity) identities.set(req, identity);
    },
    authenticator: async (req) => {
      const identity = identities.get(req);
      return identity && iamPrincipal(identity, tenants);
    },
  };
}
