import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileCredentialSource, parseSigV4Credentials } from '../../../src/auth/sigv4-credentials';
import { ServiceUnavailableError } from '../../../src/errors';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

describe('parseSigV4Credentials', () => {
  it('parses comma-separated entries with +-joined roles; the secret may contain ":"', () => {
    const list = parseSigV4Credentials(`AKIA1111:${SECRET}:keyserver, AKIA2222:a:b:c:0123456789abcdef:encoder+admin`);
    expect(list).toEqual([
      { accessKeyId: 'AKIA1111', secretAccessKey: SECRET, roles: ['keyserver'], tenant: 'default' },
      {
        accessKeyId: 'AKIA2222',
        secretAccessKey: 'a:b:c:0123456789abcdef',
        roles: ['encoder', 'admin'],
        tenant: 'default',
      },
    ]);
  });

  it('reads an optional fourth field, the tenant (a tenant ID or *); entries without one are default', () => {
    const list = parseSigV4Credentials(
      `AKIA1111:${SECRET}:keyserver:acme, AKIA2222:a:b:0123456789abcdef:encoder+admin:*, AKIA3333:${SECRET}:encoder`,
    );
    expect(list.map((c) => [c.accessKeyId, c.secretAccessKey, c.roles, c.tenant])).toEqual([
      ['AKIA1111', SECRET, ['keyserver'], 'acme'],
      ['AKIA2222', 'a:b:0123456789abcdef', ['encoder', 'admin'], '*'],
      ['AKIA3333', SECRET, ['encoder'], 'default'],
    ]);
    expect(
      parseSigV4Credentials(
        `# acme
AKIA1111:${SECRET}:keyserver:acme-prod
`,
        true,
      )[0]?.tenant,
    ).toBe('acme-prod');
  });

  it.each([
    [`AKIA1111:${SECRET}:keyserver:Acme`, /entry 1: tenant must be 1-63/],
    [`AKIA1111:${SECRET}:keyserver:encoder`, /entry 1: ambiguous: the last two fields are both role lists/],
  ])('refuses the tenant field of %s without echoing the secret', (text, message) => {
    expect(() => parseSigV4Credentials(text)).toThrow(message);
    expect(() => parseSigV4Credentials(text)).not.toThrow(SECRET);
  });

  it('reads one entry per line in files, skipping comments and blank lines', () => {
    expect(parseSigV4Credentials(`# proxies\n\nAKIA1111:${SECRET}:keyserver\r\n`, true)).toHaveLength(1);
    expect(parseSigV4Credentials('# all revoked\n', true)).toEqual([]);
  });

  it.each([
    [`AKIA1111:${SECRET}`, /entry 1: expected/],
    [`AK:${SECRET}:keyserver`, /access key id/],
    ['AKIA1111:short:keyserver', /at least 16/],
    [`AKIA1111:${SECRET}:root`, /unknown role "root"/],
    [`AKIA1111:${SECRET}:${SECRET}`, /entry 1: unknown role \(admin/],
    [`AKIA1111:${SECRET}:keyserver,AKIA1111:${SECRET}:encoder`, /appears twice/],
    [',', /holds no credentials/],
  ])('rejects %s without echoing the secret', (text, message) => {
    expect(() => parseSigV4Credentials(text)).toThrow(message);
    try {
      parseSigV4Credentials(text);
    } catch (err) {
      expect((err as Error).message).not.toContain(SECRET);
    }
  });
});

describe('FileCredentialSource', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-cred-'));
    file = path.join(dir, 'creds');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('re-reads the file when it changes; a removed line or file revokes at once', () => {
    fs.writeFileSync(file, `AKIA1111:${SECRET}:keyserver\nAKIA2222:${SECRET}:encoder\n`, { mode: 0o600 });
    const source = new FileCredentialSource(file);
    expect(source.lookup('AKIA1111')?.roles).toEqual(['keyserver']);
    fs.writeFileSync(file, `AKIA2222:${SECRET}:encoder\n`);
    expect(source.lookup('AKIA1111')).toBeUndefined();
    expect(source.lookup('AKIA2222')).toBeDefined();
    fs.rmSync(file);
    expect(source.lookup('AKIA2222')).toBeUndefined();
  });

  it('refuses a missing or invalid file at start, and answers 503 when it turns invalid later', () => {
    expect(() => new FileCredentialSource(file)).toThrow(/does not exist/);
    fs.writeFileSync(file, 'garbage\n', { mode: 0o600 });
    expect(() => new FileCredentialSource(file)).toThrow(/line 1/);
    fs.writeFileSync(file, `AKIA1111:${SECRET}:keyserver\n`);
    const source = new FileCredentialSource(file);
    fs.writeFileSync(file, `AKIA1111:${SECRET}:keyserver\nAKIA1111:${SECRET}:keyserver\n`);
    expect(() => source.lookup('AKIA1111')).toThrow(ServiceUnavailableError);
  });

  it('refuses a file group or others can read, at start and later, saying chmod 600 and no secret', () => {
    fs.writeFileSync(file, `AKIA1111:${SECRET}:keyserver\n`, { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    expect(() => new FileCredentialSource(file)).toThrow(new RegExp(`${file}.*chmod 600`));
    fs.chmodSync(file, 0o600);
    const source = new FileCredentialSource(file);
    expect(source.lookup('AKIA1111')).toBeDefined();
    fs.chmodSync(file, 0o640);
    expect(() => source.lookup('AKIA1111')).toThrow(/chmod 600/);
    try {
      source.lookup('AKIA1111');
    } catch (err) {
      expect((err as Error).message).not.toContain(SECRET);
    }
  });
});
