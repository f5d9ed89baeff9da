import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, cleanEnv, runCli } from '../e2e/cli-process';
import { migrateStore } from '../../src/keys/store-migration';
import { openDataDir, openedKeys, seedStore } from '../helpers/seed-store';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'kp-migrate-'));

interface Report {
  copied: Record<string, number>;
  skipped: Record<string, number>;
  conflicts: { kind: string; identity: string; reason: string }[];
  verify?: { checked: Record<string, number>; mismatches: unknown[] };
}

async function migrate(args: string[]): Promise<{ code: number | null; report?: Report; stderr: string }> {
  const run = await runCli(['migrate', ...args, '--json']);
  return { code: run.code, stderr: run.stderr, report: run.stdout ? (JSON.parse(run.stdout) as Report) : undefined };
}

describe('keyplane migrate sqlite → sqlite', () => {
  it('copies every record, re-sealed under the target master key; verify passes; a re-run skips all', async () => {
    const [a, b, work] = [tmp(), tmp(), tmp()];
    const src = openDataDir(a);
    const kids = await seedStore(src, 5);
    const before = await openedKeys(src, kids);
    await src.store.close();

    const cp = path.join(work, 'cp.json');
    const first = await migrate(['--from', `sqlite:${a}`, '--to', `sqlite:${b}`, '--verify', '--checkpoint', cp]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.report?.copied).toEqual({
      resource: 6,
      key: 11,
      staticKey: 1,
      lease: 5,
      apiKey: 1,
      policy: 1,
      revocation: 1,
      audit: 5,
    });
    expect(first.report?.verify?.mismatches).toEqual([]);
    expect(fs.existsSync(cp)).toBe(false);
    // Different master keys: the sealed bytes differ, the opened keys do not.
    expect(fs.readFileSync(path.join(a, 'master.key'))).not.toEqual(fs.readFileSync(path.join(b, 'master.key')));
    const dst = openDataDir(b);
    expect(await openedKeys(dst, kids)).toEqual(before);
    const srcAgain = openDataDir(a);
    const [k0] = kids.get('movie-1') ?? [];
    const [s1, s2] = [await srcAgain.store.keys.get([k0 as string]), await dst.store.keys.get([k0 as string])];
    expect(s1.get(k0 as string)?.sealed).not.toEqual(s2.get(k0 as string)?.sealed);
    expect(await dst.store.resources.get('movie-0')).toMatchObject({ tenant: 'acme', kind: 'speke' });
    expect(await dst.store.tenants.list()).toEqual(await srcAgain.store.tenants.list());
    await Promise.all([dst.store.close(), srcAgain.store.close()]);

    const again = await migrate(['--from', `sqlite:${a}`, '--to', `sqlite:${b}`, '--checkpoint', cp]);
    expect(again.code).toBe(0);
    expect(Object.values(again.report?.copied ?? {}).every((n) => n === 0)).toBe(true);
    expect(again.report?.skipped.key).toBe(11);
  });

  it('reports a KID bound to another key or resource in the target as a conflict and changes nothing', async () => {
    const [a, b, work] = [tmp(), tmp(), tmp()];
    const src = openDataDir(a);
    const kids = await seedStore(src, 2, 1);
    await src.store.close();
    const kid = (kids.get('movie-1') ?? [])[0] as string;
    const dst = openDataDir(b);
    await dst.keys.issue({ resourceId: 'other', owner: 'x', tenant: '*', keys: [{ kid }], rotating: false });
    const targetBefore = await openedKeys(dst, new Map([['other', [kid]]]));
    await dst.store.close();

    const run = await migrate([
      '--from',
      `sqlite:${a}`,
      '--to',
      `sqlite:${b}`,
      '--verify',
      '--checkpoint',
      path.join(work, 'cp'),
    ]);
    expect(run.code).toBe(1);
    expect(run.report?.conflicts).toEqual([
      { kind: 'key', identity: kid, reason: expect.stringContaining('bound to resource "other"') as string },
    ]);
    expect(run.report?.verify?.mismatches).toHaveLength(1);
    const after = openDataDir(b);
    expect(await openedKeys(after, new Map([['other', [kid]]]))).toEqual(targetBefore);
    await after.store.close();
  });

  it("copies nothing of a resource another tenant owns in the target: no key of one tenant in another's", async () => {
    const src = openDataDir(tmp());
    const dst = openDataDir(tmp());
    const acmeKid = crypto.randomUUID();
    const globexKid = crypto.randomUUID();
    await src.keys.issue({
      resourceId: 'shared',
      owner: 'e',
      tenant: 'acme',
      keys: [{ kid: acmeKid }],
      rotating: false,
    });
    await src.keys.issue({
      resourceId: 'acme-only',
      owner: 'e',
      tenant: 'acme',
      keys: [{ kid: crypto.randomUUID() }],
      rotating: false,
    });
    await dst.keys.issue({
      resourceId: 'shared',
      owner: 'e',
      tenant: 'globex',
      keys: [{ kid: globexKid }],
      rotating: false,
    });
    const report = await migrateStore(src, dst);
    const shared = report.conflicts.filter((c) => c.reason.includes('"shared"') || c.identity === 'shared');
    expect(shared.map((c) => c.kind).sort()).toEqual(['key', 'lease', 'resource']);
    expect(report.conflicts.find((c) => c.kind === 'key')?.reason).toBe(
      'resource "shared" belongs to tenant "globex" in the target, "acme" in the source: not copied',
    );
    expect((await dst.store.keys.get([acmeKid])).size).toBe(0);
    expect((await dst.store.resources.get('shared'))?.tenant).toBe('globex');
    // Everything else still goes across.
    expect((await dst.store.resources.get('acme-only'))?.tenant).toBe('acme');
    await Promise.all([src.store.close(), dst.store.close()]);
  });

  it('resumes after kill -9 from its checkpoint and ends with every key identical', async () => {
    const [a, b, work] = [tmp(), tmp(), tmp()];
    const src = openDataDir(a);
    const kids = await seedStore(src, 150, 2);
    const before = await openedKeys(src, kids);
    await src.store.close();
    const cp = path.join(work, 'cp.json');
    const args = ['migrate', '--from', `sqlite:${a}`, '--to', `sqlite:${b}`, '--checkpoint', cp, '--page-size', '5'];

    const child = spawn(process.execPath, [BIN, ...args], { env: cleanEnv(), stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_c, signal) => resolve(signal)));
    while (!fs.existsSync(cp)) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const saved = JSON.parse(fs.readFileSync(cp, 'utf8')) as { cursor: string };
    expect(saved.cursor).toMatch(/^sqlite:\d+:\d+$/);

    const resumed = await runCli([...args, '--verify', '--json']);
    expect(resumed.stderr).toContain('resuming from checkpoint');
    expect(resumed.code).toBe(0);
    const report = JSON.parse(resumed.stdout) as Report;
    expect(report.verify?.mismatches).toEqual([]);
    expect(report.verify?.checked.key).toBe(301);
    // It did not start over: what it visited (copied or skipped) is less than all 756 records.
    const visited = [...Object.values(report.copied), ...Object.values(report.skipped)].reduce((x, y) => x + y, 0);
    expect(visited).toBeLessThan(756);
    expect(Object.values(report.verify?.checked ?? {}).reduce((x, y) => x + y, 0)).toBe(756);
    const dst = openDataDir(b);
    expect(await openedKeys(dst, kids)).toEqual(before);
    await dst.store.close();
  });

  it('refuses a source without a store and the same store twice (whatever the target, postgres too)', async () => {
    const [a, b] = [tmp(), tmp()];
    const none = await runCli(['migrate', '--from', `sqlite:${a}`, '--to', `sqlite:${b}`]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('holds no Keyplane store');
    const same = await runCli(['migrate', '--from', `sqlite:${a}`, '--to', `sqlite:${a}`]);
    expect(same.stderr).toContain('same store');
    const pg = await runCli(['migrate', '--from', 'sqlite:/nonexistent', '--to', 'postgres:postgres://x/y']);
    expect(pg.code).toBe(2);
    expect(pg.stderr).toContain('/nonexistent holds no Keyplane store');
  });
});
