import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildKeyArchive } from '../../src/cpix/key-archive';
import { BIN, cleanEnv, runCli } from '../e2e/cli-process';
import { freePort } from '../e2e/keyplane-process';
import { openDataDir } from '../helpers/seed-store';
import { ROOT, SHARED } from '../helpers/paths';

const ADMIN_KEY = `exp-admin-${crypto.randomBytes(12).toString('hex')}`;
const CERT = path.join(ROOT, 'test/fixtures/certs/delivery.pem');
const PRIVATE_KEY = path.join(ROOT, 'test/fixtures/certs/delivery-key.pem');
const XSD = path.join(SHARED, 'docs/xsd/cpix-2.3/cpix.xsd');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'kp-archive-'));

/** `keyplane serve` on a data dir we keep. */
async function serve(dataDir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--port', String(port), '--data-dir', dataDir, '--log-level', 'warn'],
    {
      env: cleanEnv({ KEYPLANE_ADMIN_KEY: ADMIN_KEY }),
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      if (stderr.includes('listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}:\n${stderr}`)));
  });
  const stop = async () => {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  return { url: `http://127.0.0.1:${port}`, stop };
}

async function delivered(url: string, resourceId: string, kid: string): Promise<string> {
  const res = await fetch(`${url}/keys/${resourceId}/${kid}`, { headers: { 'x-api-key': ADMIN_KEY } });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer()).toString('hex');
}

const on = (dataDir: string) => ({ KEYPLANE_DATA_DIR: dataDir });

describe('keyplane export / import', () => {
  const [a, b, out] = [tmp(), tmp(), path.join(tmp(), 'archive')];
  const kids = [crypto.randomUUID(), crypto.randomUUID()];
  const served = new Map<string, string>();

  beforeAll(async () => {
    const kp = await serve(a);
    try {
      const env = { KEYPLANE_URL: kp.url, KEYPLANE_API_KEY: ADMIN_KEY };
      const issued = await runCli(
        ['request-keys', '--resource-id', 'movie-1', '--kids', kids.join(','), '--v2', '--json'],
        env,
      );
      expect(issued.code).toBe(0);
      for (const kid of kids) served.set(kid, await delivered(kp.url, 'movie-1', kid));
    } finally {
      await kp.stop();
    }
  });

  it('refuses to export in the clear without --plaintext', async () => {
    const run = await runCli(['export', '--resource', 'movie-1', '--out', path.join(tmp(), 'x')], on(a));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('only with --plaintext');
  });

  it('exports XSD-valid encrypted CPIX, audited with the fingerprint; no key in the clear', async () => {
    const run = await runCli(['export', '--resource', 'movie-1', '--cert', CERT, '--out', out, '--json'], on(a));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const index = JSON.parse(run.stdout) as {
      encryptedTo: { sha256: string };
      resources: { file: string; kids: string[] }[];
    };
    expect(index.resources).toEqual([
      {
        resourceId: 'movie-1',
        tenant: 'default',
        file: 'movie-1.cpix.xml',
        kids: expect.arrayContaining(kids) as string[],
      },
    ]);
    const file = path.join(out, 'movie-1.cpix.xml');
    const xml = fs.readFileSync(file, 'utf8');
    expect(xml).not.toContain('PlainValue');
    for (const hex of served.values()) expect(xml).not.toContain(Buffer.from(hex, 'hex').toString('base64'));
    const lint = spawnSync('xmllint', ['--noout', '--nonet', '--schema', XSD, file], { encoding: 'utf8' });
    expect(lint.stderr).toContain('validates');
    expect(lint.status).toBe(0);

    const store = openDataDir(a);
    const audit = await store.store.audit.query({ resourceId: 'movie-1', limit: 100 });
    await store.store.close();
    const exported = audit.records.filter((r) => r.reason?.startsWith('export:'));
    expect(exported).toEqual([
      expect.objectContaining({
        reason: `export:cert-sha256:${index.encryptedTo.sha256} keys:2`,
        route: 'keyplane export',
      }),
    ]);
  });

  it('imports into a fresh store with the private key; delivery serves byte-identical keys; re-import changes nothing', async () => {
    const dry = await runCli(['import', out, '--key', PRIVATE_KEY, '--dry-run', '--json'], on(b));
    expect(dry.code).toBe(0);
    expect((JSON.parse(dry.stdout) as { results: { imported: string[] }[] }).results[0]?.imported).toHaveLength(2);
    const afterDry = openDataDir(b);
    expect((await afterDry.store.keys.get(kids)).size).toBe(0);
    await afterDry.store.close();

    const first = await runCli(['import', out, '--key', PRIVATE_KEY, '--json'], on(b));
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const again = await runCli(['import', out, '--key', PRIVATE_KEY, '--json'], on(b));
    expect(again.code).toBe(0);
    const result = (JSON.parse(again.stdout) as { results: { imported: string[]; unchanged: string[] }[] }).results[0];
    expect(result?.imported).toEqual([]);
    expect(result?.unchanged.sort()).toEqual([...kids].sort());

    const kp = await serve(b);
    try {
      for (const kid of kids) expect(await delivered(kp.url, 'movie-1', kid)).toBe(served.get(kid));
    } finally {
      await kp.stop();
    }
  });

  it('reports a KID bound to a different key or resource, and a resource of another tenant; overwrites nothing', async () => {
    const dir = tmp();
    const other = (resourceId: string, kid: string) =>
      fs.writeFileSync(
        path.join(dir, `${resourceId}.xml`),
        buildKeyArchive({ resourceId, keys: [{ kid, key: crypto.randomBytes(16) }] }),
      );
    other('movie-1', kids[0] as string); // same resource, different key
    other('elsewhere', kids[1] as string); // KID bound to movie-1
    const run = await runCli(['import', dir, '--json'], on(b));
    expect(run.code).toBe(1);
    const results = (JSON.parse(run.stdout) as { results: { resourceId: string; conflicts: { reason: string }[] }[] })
      .results;
    expect(results.map((r) => [r.resourceId, r.conflicts.map((c) => c.reason)])).toEqual([
      ['elsewhere', ['KID is bound to another resource ("movie-1")']],
      ['movie-1', ['KID is bound to a different key']],
    ]);
    const tenant = await runCli(['import', out, '--key', PRIVATE_KEY, '--tenant', 'acme'], on(b));
    expect(tenant.code).toBe(1);
    expect(tenant.stdout).toContain('resource belongs to tenant "default"');
    const kp = await serve(b);
    try {
      for (const kid of kids) expect(await delivered(kp.url, 'movie-1', kid)).toBe(served.get(kid));
    } finally {
      await kp.stop();
    }
  });

  it('refuses hostile files with a message: too deep, DOCTYPE, no key, encrypted without --key', async () => {
    const dir = tmp();
    const cases: Array<[string, string, string]> = [
      [
        'deep.xml',
        `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" contentId="x">${'<a>'.repeat(40)}${'</a>'.repeat(40)}</cpix:CPIX>`,
        'nesting deeper than 32',
      ],
      ['dtd.xml', '<!DOCTYPE x [<!ENTITY a "b">]><x/>', 'DOCTYPE'],
      ['empty.xml', '<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" contentId="x"/>', 'no cpix:ContentKey'],
    ];
    for (const [name, xml, message] of cases) {
      fs.writeFileSync(path.join(dir, name), xml);
      const run = await runCli(['import', path.join(dir, name)], on(tmp()));
      expect([name, run.code, run.stderr]).toEqual([name, 1, expect.stringContaining(message) as string]);
    }
    const noKey = await runCli(['import', out], on(tmp()));
    expect(noKey.stderr).toContain('the private key is needed');
  });
});

describe('keyplane export / import with awkward resource IDs and files', () => {
  it('exports a 256-character ID and IDs differing only in case to distinct files, and imports them back', async () => {
    const [src, dst] = [tmp(), tmp()];
    const long = `a${'b'.repeat(255)}`;
    const ids = [long, 'Movie', 'movie', 'ok-1'];
    const store = openDataDir(src);
    for (const resourceId of ids) {
      await store.keys.issue({
        resourceId,
        owner: 'e',
        tenant: 'default',
        keys: [{ kid: crypto.randomUUID() }],
        rotating: false,
      });
    }
    await store.store.close();
    const out = path.join(tmp(), 'archive');
    const run = await runCli(['export', '--all', '--plaintext', '--out', out, '--json'], on(src));
    expect([run.code, run.stderr]).toEqual([0, '']);
    const files = (JSON.parse(run.stdout) as { resources: { resourceId: string; file: string }[] }).resources;
    expect(files.map((r) => r.resourceId).sort()).toEqual([...ids].sort());
    const names = files.map((r) => r.file);
    expect(new Set(names.map((n) => n.toLowerCase())).size).toBe(ids.length);
    expect(names).toContain('movie.cpix.xml');
    expect(names.every((n) => Buffer.byteLength(n) < 200)).toBe(true);
    expect(fs.readdirSync(out).sort()).toEqual([...names, 'index.json'].sort());
    const back = await runCli(['import', out, '--json'], on(dst));
    expect(back.code).toBe(0);
    const results = (JSON.parse(back.stdout) as { results: { resourceId: string; imported: string[] }[] }).results;
    expect(results.map((r) => [r.resourceId, r.imported.length]).sort()).toEqual(ids.map((id) => [id, 1]).sort());
  });

  it('imports nothing from a directory when one of its files is bad', async () => {
    const [dir, dst] = [tmp(), tmp()];
    const good = (resourceId: string) =>
      fs.writeFileSync(
        path.join(dir, `${resourceId}.xml`),
        buildKeyArchive({ resourceId, keys: [{ kid: crypto.randomUUID(), key: crypto.randomBytes(16) }] }),
      );
    good('first');
    good('second');
    fs.writeFileSync(path.join(dir, 'zz.xml'), '<cpix:CPIX');
    const run = await runCli(['import', dir], on(dst));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('zz.xml:');
    expect(run.stderr).toContain('(nothing imported)');
    const store = openDataDir(dst);
    try {
      expect(await store.store.resources.get('first')).toBeUndefined();
      expect(await store.store.resources.get('second')).toBeUndefined();
    } finally {
      await store.store.close();
    }
  });
});
