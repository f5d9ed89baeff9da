import {
  ALL_TENANTS,
  checkTenantId,
  claimingTenant,
  DEFAULT_TENANT,
  isTenantId,
  mayAct,
} from '../../../src/domain/tenants';
import { BadRequestError } from '../../../src/errors';

describe('tenant IDs', () => {
  it.each(['default', 'acme', 'a', 'acme-prod_2', '0tenant', 'a'.repeat(63)])('accepts %s', (id) => {
    expect(isTenantId(id)).toBe(true);
    expect(checkTenantId(id)).toBe(id);
  });

  it.each(['', 'Acme', '-acme', '_x', 'a b', 'a/b', 'a#b', 'a'.repeat(64), '*', 'ümlaut', 42, undefined, null])(
    'refuses %p with a 400 naming the field and the rule',
    (id) => {
      expect(isTenantId(id)).toBe(false);
      expect(() => checkTenantId(id, 'body.tenant')).toThrow(BadRequestError);
      expect(() => checkTenantId(id, 'body.tenant')).toThrow(/^body\.tenant must be 1-63 characters of a-z 0-9 _ -/);
    },
  );

  it('accepts * only where a credential is given its tenant', () => {
    expect(checkTenantId(ALL_TENANTS, 'tenant', { allowAll: true })).toBe('*');
    expect(() => checkTenantId('**', 'tenant', { allowAll: true })).toThrow(/or \* for all tenants/);
  });
});

describe('who may act on what', () => {
  it('lets a tenant act on its own, * on everything, nobody on another tenant', () => {
    expect(mayAct('acme', 'acme')).toBe(true);
    expect(mayAct(ALL_TENANTS, 'acme')).toBe(true);
    expect(mayAct('bravo', 'acme')).toBe(false);
    expect(mayAct('default', 'acme')).toBe(false);
  });

  it('claims new resources for the caller, or default for a * caller (never *)', () => {
    expect(claimingTenant('acme')).toBe('acme');
    expect(claimingTenant(ALL_TENANTS)).toBe(DEFAULT_TENANT);
  });
});
