import { ALL_TENANTS, DEFAULT_TENANT, isTenantId } from '../domain/tenants';

/** One `arnPattern=tenant` rule of `KEYPLANE_IAM_TENANTS`: principals whose ARN matches belong to `tenant`. */
export interface IamTenantRule {
  pattern: string;
  tenant: string;
  /** The pattern as an anchored regular expression (`*` matches any run of characters). */
  matcher: RegExp;
}

const ARN_PATTERN = /^arn:[A-Za-z0-9*:/_+=.@-]+$/;

function matcherOf(pattern: string): RegExp {
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`);
}

/**
 * Parses `arnPattern=tenant,arnPattern=tenant` (pattern: an ARN with `*` wildcards, e.g.
 * `arn:aws:sts::123456789012:assumed-role/AcmeEncoder/*`; tenant: a tenant ID or `*`). Throws an Error
 * naming the entry; the config layer prefixes the variable.
 */
export function parseIamTenants(raw: string): IamTenantRule[] {
  return raw.split(',').map((entry, i) => {
    const where = `entry ${i + 1}`;
    const eq = entry.lastIndexOf('=');
    if (eq < 0) throw new Error(`${where}: expected arnPattern=tenant`);
    const pattern = entry.slice(0, eq).trim();
    const tenant = entry.slice(eq + 1).trim();
    if (!ARN_PATTERN.test(pattern)) {
      throw new Error(`${where}: "${pattern}" is not an ARN pattern (arn:..., with * wildcards)`);
    }
    // API Gateway names a caller in a role by its session (sts … assumed-role/<name>/<session>), never by the
    // role's IAM ARN: such a rule would match nobody, and its callers would fall to no tenant unnoticed.
    const role = /^arn:([^:]+):iam::([^:]*):role\/(?:.*\/)?([^/]+)$/.exec(pattern);
    if (role) {
      const [, partition, account, name] = role;
      throw new Error(
        `${where}: "${pattern}" is a role's IAM ARN, which API Gateway never reports; a caller in that role is ` +
          `arn:${partition}:sts::${account}:assumed-role/${name}/<session>: write arn:${partition}:sts::${account}:assumed-role/${name}/*`,
      );
    }
    if (tenant !== ALL_TENANTS && !isTenantId(tenant)) {
      throw new Error(
        `${where}: tenant "${tenant}" must be 1-63 of a-z 0-9 _ -, starting with a letter or digit, or *`,
      );
    }
    return { pattern, tenant, matcher: matcherOf(pattern) };
  });
}

/**
 * The tenant of an IAM principal: the first rule whose pattern matches its ARN; with no rules at all (one
 * tenant), `default`; undefined when rules exist and none matches (that caller is nobody's encoder: any
 * principal of the account whose own policy allows execute-api:Invoke reaches the route).
 */
export function tenantOfArn(rules: readonly IamTenantRule[], arn: string): string | undefined {
  if (rules.length === 0) return DEFAULT_TENANT;
  return rules.find((r) => r.matcher.test(arn))?.tenant;
}
