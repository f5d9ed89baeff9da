import { parseIamTenants, type IamTenantRule } from '../auth/iam-tenants';
import { parsed, type Env } from './env';

/** How callers map to tenants where the credential itself cannot say (`KEYPLANE_IAM_TENANTS`). */
export interface TenantsConfig {
  /** IAM principal ARN patterns → tenant, first match wins; unmapped principals are `default`. */
  iamTenants: IamTenantRule[];
}

/** Reads `KEYPLANE_IAM_TENANTS` (`arnPattern=tenant,...`); a bad entry is a ConfigError naming the variable. */
export function loadTenantsConfig(env: Env): TenantsConfig {
  return { iamTenants: parsed(env, 'KEYPLANE_IAM_TENANTS', parseIamTenants) ?? [] };
}
