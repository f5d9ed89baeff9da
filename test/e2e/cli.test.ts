import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, runCliJson, serveKeyplane, type ServeProcess } from './cli-process';
import { freePort } from './keyplane-process';

// The real binary (node bin/keyplane.js) against a real `keyplane serve`: help, exit codes, and each client command.

const ADMIN_KEY = `cli-admin-${crypto.randomBytes(12).toString('hex')}`;
const SIGV4_ID = 'AKIDCLITEST0001';
const SIGV4_SECRET = crypto.randomBytes(20).toString('hex');

let kp: ServeProcess;
let admin: Record<string, string>;
let encoderKey: string;

interface KeysJson {
  keys: Array<{ kid: string; key: string; iv: string; trackType?: string; periodIndex?: number }>;
  drmSystems: Array<{ kid: string; drm: string; keyUrl: string | null; pssh: string | null }>;
}

beforeAll(async () => {
  kp = await serveKeyplane(ADMIN_KEY, { KEYPLANE_SIGV4_CREDENTIALS: `${SIGV4_ID}:${SIGV4_SECRET}:admin` });
  admin = { KEYPLANE_URL: kp.url, KEYPLANE_API_KEY: ADMIN_KEY };
  encoderKey = (await runCliJson<{ key: string }>(['api-key', 'create', '--name', 'enc', '--roles', 'encoder'], admin))
    .key;
});

afterAll(async () => {
  await kp?.stop();
});

const encoder = () => ({ KEYPLANE_URL: kp.url, KEYPLANE_API_KEY: encoderKey });
const rid = (label: string) => `cli-${label}-${crypto.randomBytes(3).toString('hex')}`;

async function keyBytes(resourceId: string, kid: string): Promise<string> {
  const res = await fetch(`${kp.url}/keys/${resourceId}/${kid}`, { headers: { 'x-api-key': ADMIN_KEY } });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer()).toString('hex');
}

describe('help and usage errors', () => {
  const leaves = [
    ['serve'],
    ['request-keys'],
    ['static-key', 'create'],
    ['static-key', 'show'],
    ['api-key', 'create'],
    ['api-key', 'list'],
    ['api-key', 'revoke'],
    ['token', 'mint'],
    ['lease', 'show'],
    ['lease', 'release'],
    ['tenant', 'list'],
    ['conformance'],
    ['package-hls'],
    ['backup'],
    ['restore'],
    ['rotate-master-key'],
  ];

  it('lists every command and the exit codes', async () => {
    const run = await runCli(['--help']);
    expect(run.code).toBe(0);
    for (const [name] of leaves) expect(run.stdout).toContain(name as string);
    expect(run.stdout).toMatch(
      /Exit codes:[\s\S]*3 {2}the server could not be reached[\s\S]*4 {2}the server rejected the credentials/,
    );
  });

  it.each(leaves.map((l) => [l.join(' '), l]))(
    '%s --help describes its options and exit codes',
    async (_name, words) => {
      const run = await runCli([...(words as string[]), '--help']);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^Usage: keyplane /);
      expect(run.stdout).toContain('Exit codes:');
    },
  );

  it('exits 2 with a message that says what to do on usage errors', async () => {
    const unknown = await runCli(['frobnicate']);
    expect([unknown.code, unknown.stderr]).toEqual([2, expect.stringContaining("unknown command 'frobnicate'")]);
    const missing = await runCli(['request-keys', '--url', kp.url]);
    expect([missing.code, missing.stderr]).toEqual([
      2,
      expect.stringContaining("required option '--resource-id <id>'"),
    ]);
    const noUrl = await runCli(['api-key', 'list', '--api-key', ADMIN_KEY]);
    expect([noUrl.code, noUrl.stderr]).toEqual([2, expect.stringContaining('missing --url: name the server')]);
    const drm = await runCli(['request-keys', '--resource-id', 'x', '--drm', 'widevin'], admin);
    expect([drm.code, drm.stderr]).toEqual([
      2,
      expect.stringContaining('unknown DRM system "widevin"; use one or more of: hls-aes128'),
    ]);
    const preset = await runCli(['request-keys', '--resource-id', 'x', '--preset', 'SHARED:SHARED'], admin);
    expect([preset.code, preset.stderr]).toEqual([
      2,
      expect.stringContaining('--preset and --scheme are SPEKE v2 options: add --v2'),
    ]);
    const cert = await runCli(['request-keys', '--resource-id', 'x', '--cert', '/nonexistent.pem'], admin);
    expect([cert.code, cert.stderr]).toEqual([
      2,
      expect.stringContaining('--cert /nonexistent.pem: cannot read the file (ENOENT)'),
    ]);
  });

  it('no arguments: the help on stderr and exit 2', async () => {
    const run = await runCli([]);
    expect([run.code, run.stdout]).toEqual([2, '']);
    expect(run.stderr).toMatch(/^Usage: keyplane [\s\S]*Exit codes:/);
  });

  it('checks IDs, KIDs, hex and URLs before any request: exit 2 naming the option', async () => {
    // A closed port: had a request been sent, the exit code would be 3.
    const closed = { KEYPLANE_URL: `http://127.0.0.1:${await freePort()}`, KEYPLANE_API_KEY: 'x' };
    const cases: Array<[string[], string]> = [
      [['request-keys', '--resource-id', 'has space'], '--resource-id must be 1-256 characters'],
      [['request-keys', '--resource-id', 'r', '--kid', 'not-a-uuid'], '--kid must be a KID in UUID form'],
      [['request-keys', '--resource-id', 'r', '--kids', `${crypto.randomUUID()},zz`], '--kids must be a KID'],
      [['static-key', 'create', '--resource-id', 'r', '--key-hex', 'abc'], '--key-hex must be 32 hex digits'],
      [['static-key', 'create', '--resource-id', 'r', '--iv-hex', 'g'.repeat(32)], '--iv-hex must be 32 hex digits'],
      [['token', 'mint', '--resource-id', 'r', '--kids', 'k1'], '--kids must be a KID in UUID form'],
      [['lease', 'release', 'a/b'], '<resource-id> must be 1-256 characters'],
      [['api-key', 'list', '--url', 'ftp://x'], '--url must use http or https'],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args, closed);
      expect([args.join(' '), run.code, run.stderr]).toEqual([args.join(' '), 2, expect.stringContaining(message)]);
    }
  });

  it('--json errors are one JSON object on stderr with a code; stdout stays empty', async () => {
    const usage = await runCli(['request-keys', '--resource-id', 'r', '--kid', 'nope', '--json'], admin);
    expect([usage.code, usage.stdout]).toEqual([2, '']);
    expect(JSON.parse(usage.stderr)).toEqual({
      error: 'usage_error',
      message: expect.stringContaining('--kid must be a KID'),
      exitCode: 2,
    });
    const missing = await runCli(['request-keys', '--json'], admin);
    expect(JSON.parse(missing.stderr)).toMatchObject({
      error: 'usage_error',
      message: expect.stringContaining('--resource-id'),
    });
    const closed = await runCli(['api-key', 'list', '--url', `http://127.0.0.1:${await freePort()}`, '--json']);
    expect(JSON.parse(closed.stderr)).toMatchObject({ error: 'unreachable', exitCode: 3 });
  });

  it('exits 3 when the server cannot be reached and 4 when it rejects the credentials', async () => {
    const closed = await runCli(['api-key', 'list', '--url', `http://127.0.0.1:${await freePort()}`, '--api-key', 'x']);
    expect([closed.code, closed.stderr]).toEqual([3, expect.stringContaining('ECONNREFUSED. Check --url')]);
    const wrong = await runCli(['api-key', 'list', '--url', kp.url, '--api-key', 'kp_not-a-key']);
    expect([wrong.code, wrong.stderr]).toEqual([4, expect.stringContaining('HTTP 401')]);
    const role = await runCli(['api-key', 'list'], encoder());
    expect([role.code, role.stderr]).toEqual([4, expect.stringContaining('HTTP 403')]);
  });
});

describe('keyplane serve', () => {
  it('prints where it listens and the configuration summary, never the admin key', () => {
    expect(kp.stderr()).toMatch(/keyplane \S+ listening on http:\/\/127\.0\.0\.1:\d+\n {2}listen +127\.0\.0\.1:\d+/);
    expect(kp.stderr()).toMatch(/store +sqlite \(/);
    expect(kp.stderr()).toMatch(/adminKey +from KEYPLANE_ADMIN_KEY/);
    expect(kp.stderr()).not.toContain(ADMIN_KEY);
    expect(kp.stderr()).not.toContain(SIGV4_SECRET);
  });

  it('exits 2 naming the variable or option on a configuration error', async () => {
    const run = await runCli(['serve', '--port', 'eighty']);
    expect([run.code, run.stderr]).toEqual([
      2,
      expect.stringContaining('configuration error: KEYPLANE_PORT: must be an integer, got "eighty"'),
    ]);
  });
});

describe('keyplane request-keys', () => {
  it('SPEKE v1: prints keys, IVs and key URLs; the keys are the ones the server delivers', async () => {
    const id = rid('v1');
    const table = await runCli(
      ['request-keys', '--resource-id', id, '--kids', '2', '--drm', 'hls-aes128,widevine'],
      encoder(),
    );
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^KID +TRACK +KEY +IV\n/);
    expect(table.stdout).toContain(`${kp.url}/keys/${id}/`);
    expect(table.stdout).toMatch(/Widevine +pssh v0/);
    const kids = [...table.stdout.matchAll(/^([0-9a-f-]{36}) +- +([0-9a-f]{32}) /gm)].map((m) => [m[1], m[2]]);
    expect(kids).toHaveLength(2);
    for (const [kid, key] of kids) expect(await keyBytes(id, kid as string)).toBe(key);
  });

  it('SPEKE v2 with a preset: one key per track type, signalling per DRM system (--json)', async () => {
    const out = await runCliJson<KeysJson>(
      [
        'request-keys',
        '--resource-id',
        rid('v2'),
        '--v2',
        '--preset',
        'PRESET-VIDEO-2:PRESET-AUDIO-1',
        '--drm',
        'widevine,fairplay',
      ],
      encoder(),
    );
    expect(out.keys.map((k) => k.trackType)).toEqual(['SD', 'HD', 'AUDIO']);
    expect(out.keys.every((k) => /^[0-9a-f]{32}$/.test(k.key) && /^[0-9a-f]{32}$/.test(k.iv))).toBe(true);
    expect(out.drmSystems.filter((d) => d.drm === 'widevine').every((d) => d.pssh !== null)).toBe(true);
    expect(out.drmSystems.filter((d) => d.drm === 'fairplay').every((d) => d.keyUrl?.startsWith('skd://'))).toBe(true);
  });

  it('key rotation: keys for each requested key period', async () => {
    const args = ['request-keys', '--resource-id', rid('rot'), '--rotation', '2', '--period-index', '5'];
    const out = await runCliJson<KeysJson>(args, encoder());
    expect(out.keys.map((k) => k.periodIndex)).toEqual([5, 6]);
  });

  it('with --cert the keys come back encrypted; with --key they are decrypted (MACs checked) to the delivered keys', async () => {
    const certs = path.join(__dirname, '../fixtures/certs');
    const args = (id: string) => [
      'request-keys',
      '--resource-id',
      id,
      '--v2',
      '--drm',
      'widevine',
      '--cert',
      path.join(certs, 'delivery.pem'),
    ];
    const opaque = await runCli(args(rid('enc')), encoder());
    expect(opaque.code).toBe(0);
    expect(opaque.stdout.match(/\(encrypted: pass --key\)/g)).toHaveLength(2);
    const id = rid('enc');
    const clear = await runCliJson<KeysJson>([...args(id), '--key', path.join(certs, 'delivery-key.pem')], encoder());
    expect(clear.keys).toHaveLength(2);
    for (const k of clear.keys) expect(await keyBytes(id, k.kid)).toBe(k.key);
  });

  it('exits 1 with the server message when the key provider refuses (lease held by another caller)', async () => {
    const id = rid('lease');
    expect((await runCli(['request-keys', '--resource-id', id], encoder())).code).toBe(0);
    const second = await runCli(['request-keys', '--resource-id', id], admin);
    expect([second.code, second.stderr]).toEqual([
      1,
      expect.stringMatching(/HTTP 409: Resource ID "cli-lease-\w+" is in use by another/),
    ]);
    expect(second.stderr).toContain(`keyplane lease release ${id}`);
    expect(second.stderr).toMatch(/\(Retry-After: \d+ s\)/);
    const json = await runCli(['request-keys', '--resource-id', id, '--json'], admin);
    expect([json.code, json.stdout]).toEqual([1, '']);
    expect(JSON.parse(json.stderr)).toEqual({
      error: 'lease_conflict',
      message: expect.stringContaining('is in use'),
      exitCode: 1,
      status: 409,
      retryAfter: expect.any(Number),
    });
  });

  it('--kid repeats a request with the same key; a new KID from the same caller gets a 409 naming its KIDs', async () => {
    const id = rid('again');
    const first = await runCliJson<KeysJson>(['request-keys', '--resource-id', id, '--kids', '2'], encoder());
    const [a, b] = first.keys.map((k) => k.kid) as [string, string];
    const again = await runCliJson<KeysJson>(['request-keys', '--resource-id', id, '--kid', b, '--kid', a], encoder());
    expect(again.keys.map((k) => [k.kid, k.key])).toEqual([
      [b, first.keys[1]?.key],
      [a, first.keys[0]?.key],
    ]);
    const list = await runCliJson<KeysJson>(['request-keys', '--resource-id', id, '--kids', `${a},${b}`], encoder());
    expect(list.keys.map((k) => k.key)).toEqual(first.keys.map((k) => k.key));
    const fresh = await runCli(['request-keys', '--resource-id', id, '--kid', crypto.randomUUID()], encoder());
    expect([fresh.code, fresh.stderr]).toEqual([
      1,
      expect.stringContaining(`this caller already holds the lease with KIDs ${a}, ${b}; send the same KIDs to repeat`),
    ]);
    const dup = await runCli(['request-keys', '--resource-id', id, '--kid', a, '--kids', a], encoder());
    expect([dup.code, dup.stderr]).toEqual([2, expect.stringContaining(`KID ${a} is given twice`)]);
  });

  it('--sigv4 signs with the AWS credential chain; a wrong secret exits 4; no credentials exits 2', async () => {
    const sig = { KEYPLANE_URL: kp.url, AWS_ACCESS_KEY_ID: SIGV4_ID, AWS_SECRET_ACCESS_KEY: SIGV4_SECRET };
    const ok = await runCli(['request-keys', '--sigv4', '--resource-id', rid('sig')], sig);
    expect([ok.code, ok.stderr]).toEqual([0, '']);
    const bad = await runCli(['api-key', 'list', '--sigv4'], { ...sig, AWS_SECRET_ACCESS_KEY: 'x'.repeat(40) });
    expect([bad.code, bad.stderr]).toEqual([4, expect.stringContaining('SigV4 signature does not match')]);
    const none = await runCli(['api-key', 'list', '--sigv4', '--timeout', '5'], {
      KEYPLANE_URL: kp.url,
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    expect([none.code, none.stderr]).toEqual([2, expect.stringContaining('Configure AWS credentials')]);
  });
});

describe('admin commands', () => {
  it('static-key create and show', async () => {
    const id = rid('static');
    const created = await runCliJson<Record<string, string>>(['static-key', 'create', '--resource-id', id], admin);
    expect(created).toMatchObject({
      resourceId: id,
      KeyFormat: 'identity',
      StaticKeyValue: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    const shown = await runCli(['static-key', 'show', id], admin);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^StaticKeyValue +${created.StaticKeyValue}$`, 'm'));
    expect(shown.stdout).toMatch(new RegExp(`^Url +${created.Url}$`, 'm'));
    // A key to import read from a file, off the command line (ps shows every argument).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-cli-keyfile-'));
    const keyHex = crypto.randomBytes(16).toString('hex');
    fs.writeFileSync(path.join(dir, 'key.hex'), `${keyHex}\n`, { mode: 0o600 });
    const imported = await runCliJson<Record<string, string>>(
      ['static-key', 'create', '--resource-id', rid('static-file'), '--key-hex-file', path.join(dir, 'key.hex')],
      admin,
    );
    expect(imported.StaticKeyValue).toBe(keyHex);
    const both = await runCli(
      ['static-key', 'create', '--resource-id', 'r', '--key-hex', keyHex, '--key-hex-file', path.join(dir, 'key.hex')],
      admin,
    );
    expect([both.code, both.stderr]).toEqual([
      2,
      expect.stringContaining('give --key-hex or --key-hex-file, not both'),
    ]);
    fs.rmSync(dir, { recursive: true, force: true });
    const missing = await runCli(['static-key', 'show', 'no-such-resource'], admin);
    expect([missing.code, missing.stderr]).toEqual([
      1,
      expect.stringContaining('HTTP 404: No static key for resource "no-such-resource"'),
    ]);
  });

  it('api-key create shows the secret once; list never does; revoke takes effect at once', async () => {
    const created = await runCli(['api-key', 'create', '--name', 'proxy-1', '--roles', 'keyserver'], admin);
    expect(created.code).toBe(0);
    const key = /^key +(\S+)$/m.exec(created.stdout)?.[1] as string;
    const id = /^id +(\S+)$/m.exec(created.stdout)?.[1] as string;
    expect(created.stderr).toContain('shown only once');
    const list = await runCli(['api-key', 'list'], admin);
    expect(list.stdout).toMatch(new RegExp(`^${id} +proxy-1 +keyserver `, 'm'));
    expect(list.stdout).not.toContain(key);
    expect((await runCli(['api-key', 'revoke', id], admin)).code).toBe(0);
    const revoked = await runCli(['request-keys', '--resource-id', 'x', '--api-key', key], admin);
    expect(revoked.code).toBe(4);
  });

  it('api-key create --tenant makes a key of that tenant; list shows tenants; a tenant admin sees its own', async () => {
    const created = await runCliJson<{ key: string; tenant: string }>(
      ['api-key', 'create', '--name', 'studio-x-admin', '--roles', 'admin', '--tenant', 'studio-x'],
      admin,
    );
    expect(created.tenant).toBe('studio-x');
    const plain = await runCli(['api-key', 'create', '--name', 'plain', '--roles', 'keyserver'], admin);
    expect(plain.stdout).toMatch(/^tenant +default$/m);
    const list = await runCli(['api-key', 'list'], admin);
    expect(list.stdout).toMatch(/^ID +NAME +ROLES +TENANT +CREATED/m);
    expect(list.stdout).toMatch(/ studio-x-admin +admin +studio-x /);
    const tenantAdmin = { KEYPLANE_URL: kp.url, KEYPLANE_API_KEY: created.key };
    const own = await runCliJson<{ apiKeys: { tenant: string }[] }>(['api-key', 'list'], tenantAdmin);
    expect(own.apiKeys.map((k) => k.tenant)).toEqual(['studio-x']);
    const refused = await runCli(
      ['api-key', 'create', '--name', 'x', '--roles', 'admin', '--tenant', '*'],
      tenantAdmin,
    );
    expect([refused.code, refused.stderr]).toEqual([4, expect.stringContaining('HTTP 403')]);
    expect(refused.stderr).toContain('only create API keys of tenant "studio-x"');
    const bad = await runCli(['api-key', 'create', '--name', 'x', '--roles', 'admin', '--tenant', 'No Good'], admin);
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringContaining('tenant must be')]);
    const tenants = await runCli(['tenant', 'list'], admin);
    expect(tenants.stdout).toMatch(/^TENANT +API KEYS +RESOURCES$/m);
    expect(tenants.stdout).toMatch(/^studio-x +1 +0$/m);
    expect((await runCli(['tenant', 'list'], tenantAdmin)).code).toBe(4);
  });

  it('token mint returns a token whose key URL delivers the key', async () => {
    const id = rid('token');
    const keys = await runCliJson<KeysJson>(['request-keys', '--resource-id', id], encoder());
    const kid = keys.keys[0]?.kid as string;
    const minted = await runCliJson<{ token: string; expiresAt: string; keyUrl: string }>(
      ['token', 'mint', '--resource-id', id, '--ttl', '300'],
      admin,
    );
    expect(Date.parse(minted.expiresAt) - Date.now()).toBeLessThanOrEqual(300_000);
    const res = await fetch(`${minted.keyUrl}/${kid}`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).toString('hex')).toBe(keys.keys[0]?.key);
  });

  it('lease show and release free a resource ID for another encryption process', async () => {
    const id = rid('release');
    expect((await runCli(['request-keys', '--resource-id', id], encoder())).code).toBe(0);
    const shown = await runCli(['lease', 'show', id], admin);
    expect(shown.stdout).toMatch(/^rotating +false$/m);
    expect((await runCli(['lease', 'release', id], admin)).code).toBe(0);
    expect((await runCli(['request-keys', '--resource-id', id], admin)).code).toBe(0);
    const again = await runCli(['lease', 'release', 'never-leased'], admin);
    expect([again.code, again.stderr]).toEqual([1, expect.stringContaining('HTTP 404')]);
  });
});

it('the bin shim is what package.json declares', async () => {
  const pkg = (await import(path.join(__dirname, '../../package.json'))) as { bin: Record<string, string> };
  expect(pkg.bin.keyplane).toBe('bin/keyplane.js');
});
