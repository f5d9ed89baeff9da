import { iamPrincipal } from '../../../src/auth/api-gateway-iam';
import { parseIamTenants, tenantOfArn } from '../../../src/auth/iam-tenants';
import { ConfigError, loadConfig } from '../../../src/config';

const ACME_ROLE = 'arn:aws:sts::123456789012:assumed-role/AcmeEncoder/session-1';

describe('KEYPLANE_IAM_TENANTS', () => {
  const rules = parseIamTenants(
    'arn:aws:sts::123456789012:assumed-role/AcmeEncoder/*=acme, arn:aws:iam::123456789012:user/ops=*,' +
      'arn:aws:sts::123456789012:*=bravo',
  );

  it('maps an ARN to the first matching pattern; * matches any run of characters', () => {
    expect(tenantOfArn(rules, ACME_ROLE)).toBe('acme');
    expect(tenantOfArn(rules, 'arn:aws:iam::123456789012:user/ops')).toBe('*');
    expect(tenantOfArn(rules, 'arn:aws:sts::123456789012:assumed-role/Other/s')).toBe('bravo');
  });

  it('gives an unmapped principal no tenant when rules exist; patterns are anchored (no partial or regex match)', () => {
    expect(tenantOfArn(rules, 'arn:aws:iam::999999999999:user/ops')).toBeUndefined();
    expect(tenantOfArn(rules, 'arn:aws:iam::123456789012:user/ops2')).toBeUndefined();
    expect(tenantOfArn(parseIamTenants('arn:aws:iam::1.3:user/x=acme'), 'arn:aws:iam::123:user/x')).toBeUndefined();
    // Without rules (one tenant), every IAM caller is default's.
    expect(tenantOfArn([], ACME_ROLE)).toBe('default');
  });

  it('puts the tenant on the IAM principal, and refuses one no rule names (403)', () => {
    const principal = iamPrincipal({ userArn: ACME_ROLE, caller: 'AROA:session-1' }, rules);
    expect(principal).toMatchObject({ id: `iam:${ACME_ROLE}`, via: 'iam', tenant: 'acme' });
    expect(iamPrincipal({ userArn: ACME_ROLE, caller: 'AROA:s' }).tenant).toBe('default');
    const stranger = 'arn:aws:sts::999999999999:assumed-role/DevPowerUser/alice';
    expect(() => iamPrincipal({ userArn: stranger, caller: 'AROAY:alice' }, rules)).toThrow(
      expect.objectContaining({
        status: 403,
        message: `IAM principal ${stranger} matches no KEYPLANE_IAM_TENANTS rule, so it is no tenant's encoder`,
      }),
    );
  });

  it("refuses a role's IAM ARN, which API Gateway never reports, naming the pattern to write", () => {
    expect(() => loadConfig({ KEYPLANE_IAM_TENANTS: 'arn:aws:iam::123456789012:role/AcmeEncoder=acme' })).toThrow(
      'KEYPLANE_IAM_TENANTS: entry 1: "arn:aws:iam::123456789012:role/AcmeEncoder" is a role\'s IAM ARN, which API ' +
        'Gateway never reports; a caller in that role is arn:aws:sts::123456789012:assumed-role/AcmeEncoder/<session>: ' +
        'write arn:aws:sts::123456789012:assumed-role/AcmeEncoder/*',
    );
    expect(() => loadConfig({ KEYPLANE_IAM_TENANTS: 'arn:aws:iam::1:role/service-role/Enc=acme' })).toThrow(
      /write arn:aws:sts::1:assumed-role\/Enc\/\*/,
    );
  });

  it.each([
    ['arn:aws:iam::1:user/x', /entry 1: expected arnPattern=tenant/],
    ['not-an-arn=acme', /entry 1: "not-an-arn" is not an ARN pattern/],
    [`${ACME_ROLE}=Acme`, /entry 1: tenant "Acme" must be 1-63/],
    [`${ACME_ROLE}=acme,${ACME_ROLE}=`, /entry 2: tenant "" must be/],
  ])('refuses %s with a ConfigError naming the variable and the entry', (value, message) => {
    expect(() => loadConfig({ KEYPLANE_IAM_TENANTS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ KEYPLANE_IAM_TENANTS: value })).toThrow(/^KEYPLANE_IAM_TENANTS: /);
    expect(() => loadConfig({ KEYPLANE_IAM_TENANTS: value })).toThrow(message);
  });

  it('is empty when unset: every IAM caller is default', () => {
    expect(loadConfig({}).iamTenants).toEqual([]);
  });
});
