import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KmsEnvelopeCipher, type KmsCipherOptions } from '../../src/keys/kms-cipher';
import { LocalEnvelopeCipher } from '../../src/keys/local-cipher';
import { dynamoDbBackend } from '../../src/store/dynamodb';
import { openSqliteBackend } from '../../src/store/sqlite';
import { startBackendApp, type RunningApp } from '../helpers/backend-app';
import { responseKeys } from '../helpers/cpix';
import { freshKids, hlsRequest } from '../helpers/cpix-docs';
import { errorBody, LoopbackClient, type HttpResult } from '../helpers/http-client';
import { createKmsKey, dynamoClient, freshTable, kmsClient, startMoto } from '../helpers/moto';
import { reportFigures } from '../helpers/report';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { TcpSwitch } from '../helpers/tcp-switch';
import { ADMIN_KEY } from '../helpers/test-app';

/** A SPEKE request for a new resource, and what it was answered. */
interface Issued {
  resourceId: string;
  kids: string[];
  res: HttpResult;
}

/** Talks to one app or server as admin (admin passes every role check without reading the store). */
class Caller {
  readonly client: LoopbackClient;

  constructor(port: number) {
    this.client = new LoopbackClient(port);
  }

  /** POSTs the SPEKE request for `resourceId`/`kids`, new ones when not given. */
  async speke(resourceId = `fault-${crypto.randomUUID()}`, kids = freshKids(2)): Promise<Issued> {
    const res = await this.client.send({
      method: 'POST',
      path: '/copyProtection',
      headers: { 'content-type': 'application/xml', 'x-api-key': ADMIN_KEY },
      body: hlsRequest(resourceId, kids),
    });
    return { resourceId, kids, res };
  }

  key(resourceId: string, kid: string): Promise<HttpResult> {
    return this.client.send({ method: 'GET', path: `/keys/${resourceId}/${kid}`, headers: { 'x-api-key': ADMIN_KEY } });
  }

  health(): Promise<HttpResult> {
    return this.client.send({ method: 'GET', path: '/healthz' });
  }
}

/** 503 with a Retry-After of whole seconds and the error mapping's `unavailable` body. */
function expectUnavailable(res: HttpResult): void {
  expect({ status: res.status, error: errorBody(res)?.error }).toEqual({ status: 503, error: 'unavailable' });
  expect(res.headers['retry-after']).toMatch(/^\d+$/);
}

/** /healthz's own 503: `{status: 'unavailable'}` with Retry-After. */
function expectUnhealthy(res: HttpResult): void {
  expect(res.status).toBe(503);
  expect(res.headers['retry-after']).toMatch(/^\d+$/);
}

function expectIssued(issued: Issued): void {
  expect(issued.res.status).toBe(200);
  expect([...responseKeys(issued.res.body.toString('utf8')).keys()].sort()).toEqual([...issued.kids].sort());
}

/** The key bytes a 200 SPEKE answer carried for `kid`. */
function keyOf(issued: Issued, kid: string): Buffer {
  return responseKeys(issued.res.body.toString('utf8')).get(kid)?.key as Buffer;
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const value = await work();
  return [value, Date.now() - started];
}

/** Runs `work` while a lock is held, and releases it whatever happens. */
async function whileHeld<T>(lock: { release: () => Promise<void> }, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } finally {
    await lock.release();
  }
}

/** Runs `work` with the switch in `mode`, and forwards again whatever happens. */
async function whileSwitched<T>(sw: TcpSwitch, mode: 'down' | 'blackhole', work: () => Promise<T>): Promise<T> {
  await sw.set(mode);
  try {
    return await work();
  } finally {
    await sw.set('forward');
  }
}

/** A child process that holds a lock until its stdin closes; resolves once it says it holds it. */
function holdLock(command: string, args: string[]): Promise<{ release: () => Promise<void> }> {
  const child: ChildProcess = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', () =>
      resolve({
        release: async () => {
          child.stdin?.end();
          await exited;
        },
      }),
    );
    child.once('exit', (code) => reject(new Error(`lock holder exited with ${code} before locking`)));
  });
}

/** Another process holding SQLite's write lock (`BEGIN EXCLUSIVE`), as a backup tool or a stuck writer would. */
const WRITE_LOCKER = `
const Database = require(process.argv[1]);
const db = new Database(process.argv[2]);
db.exec('BEGIN EXCLUSIVE');
process.stdout.write('locked\\n');
process.stdin.on('end', () => { db.exec('ROLLBACK'); db.close(); process.exit(0); });
process.stdin.resume();
`;

/**
 * Another process holding every WAL-index lock of the database (write, checkpoint, recovery and
 * all read marks: bytes 120-127 of the -shm file), so that nobody can read or write: the live
 * server's SQLite gives up with SQLITE_PROTOCOL after ~10 s of retries.
 */
const WAL_LOCKER = `
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
for attempt in range(200):
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 8, 120)
        break
    except OSError:
        time.sleep(0.05)
else:
    sys.exit(3)
print("locked", flush=True)
sys.stdin.read()
`;

describe('dependency faults: 503 with Retry-After, recovery without restart', () => {
  describe('SQLite file locked by another process', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-faults-'));
    const dbFile = path.join(dataDir, 'keyplane.db');
    let proc: ServerProcess;
    let caller: Caller;
    beforeAll(async () => {
      proc = await startServerProcess(dataDir);
      caller = new Caller(proc.port);
    });
    afterAll(async () => {
      caller.client.close();
      await proc.kill('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it('write lock held (BEGIN EXCLUSIVE): SPEKE 503 while keys are still served; SPEKE works once released', async () => {
      const before = await caller.speke();
      expectIssued(before);
      const [kid] = before.kids as [string];
      const lock = await holdLock(process.execPath, ['-e', WRITE_LOCKER, require.resolve('better-sqlite3'), dbFile]);
      const [failed, spekeMs] = await whileHeld(lock, async () => {
        const attempt = await timed(() => caller.speke());
        expectUnavailable(attempt[0].res);
        // WAL readers are not blocked by a writer: delivery and health keep working.
        const served = await caller.key(before.resourceId, kid);
        expect(served.status).toBe(200);
        expect(served.body.equals(keyOf(before, kid))).toBe(true);
        expect((await caller.health()).status).toBe(200);
        return attempt;
      });
      for (const k of failed.kids) expect((await caller.key(failed.resourceId, k)).status).toBe(404);
      expectIssued(await caller.speke(failed.resourceId, failed.kids));
      expectIssued(await caller.speke());
      reportFigures('fault-sqlite-write-lock', { spekeMsWhileLocked: spekeMs, recoveredWithoutRestart: true });
    });

    it('every lock held (unreadable): SPEKE, key delivery and /healthz 503; all recover once released', async () => {
      const before = await caller.speke();
      expectIssued(before);
      const [kid] = before.kids as [string];
      const lock = await holdLock('/usr/bin/python3', ['-c', WAL_LOCKER, `${dbFile}-shm`]);
      const figures: Record<string, number> = {};
      const failed = await whileHeld(lock, async () => {
        const [attempt, spekeMs] = await timed(() => caller.speke());
        expectUnavailable(attempt.res);
        const [key, keyMs] = await timed(() => caller.key(before.resourceId, kid));
        expectUnavailable(key);
        const [health, healthMs] = await timed(() => caller.health());
        expectUnhealthy(health);
        Object.assign(figures, { spekeMs, keyMs, healthMs });
        return attempt;
      });
      expect((await caller.health()).status).toBe(200);
      const served = await caller.key(before.resourceId, kid);
      expect(served.body.equals(keyOf(before, kid))).toBe(true);
      for (const k of failed.kids) expect((await caller.key(failed.resourceId, k)).status).toBe(404);
      expectIssued(await caller.speke(failed.resourceId, failed.kids));
      reportFigures('fault-sqlite-unreadable', { ...figures, recoveredWithoutRestart: true });
    });
  });

  describe('AWS KMS endpoint down (moto behind a switchable TCP forwarder)', () => {
    let kms: TcpSwitch;
    let keyId: string;
    const apps: RunningApp[] = [];
    const dirs: string[] = [];
    beforeAll(async () => {
      const endpoint = startMoto();
      keyId = await createKmsKey(endpoint);
      kms = await TcpSwitch.start(Number(new URL(endpoint).port));
    }, 300_000);
    afterAll(async () => {
      await Promise.all(apps.map((a) => a.close()));
      await kms.close();
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    });

    /** The app on SQLite and a KMS cipher that reaches moto only through the switch. */
    async function kmsApp(options: Partial<KmsCipherOptions>): Promise<Caller> {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-kms-fault-'));
      dirs.push(dir);
      const cipher = new KmsEnvelopeCipher(kmsClient(kms.endpoint), {
        keyId,
        encryptionContext: { app: 'keyplane-faults', deployment: crypto.randomUUID() },
        ...options,
      });
      const app = await startBackendApp({ store: openSqliteBackend(path.join(dir, 'keyplane.db')), cipher });
      apps.push(app);
      return new Caller(app.port);
    }

    it('every seal and unseal needs KMS (no data-key cache): 503 while down or silent, then recovery', async () => {
      const caller = await kmsApp({ maxDataKeyUses: 1, decryptCacheSize: 0 });
      const before = await caller.speke();
      expectIssued(before);
      const [kid] = before.kids as [string];
      const figures: Record<string, number> = {};
      const failed = await whileSwitched(kms, 'down', async () => {
        const [attempt, refusedMs] = await timed(() => caller.speke());
        expectUnavailable(attempt.res);
        expectUnavailable(await caller.key(before.resourceId, kid));
        expect((await caller.health()).status).toBe(200); // health is the store's; KMS is checked per request
        figures.spekeMsRefused = refusedMs;
        return attempt;
      });
      await whileSwitched(kms, 'blackhole', async () => {
        const [silent, silentMs] = await timed(() => caller.speke());
        expectUnavailable(silent.res);
        figures.spekeMsSilent = silentMs;
      });
      const served = await caller.key(before.resourceId, kid);
      expect(served.status).toBe(200);
      expect(served.body.equals(keyOf(before, kid))).toBe(true);
      for (const k of failed.kids) expect((await caller.key(failed.resourceId, k)).status).toBe(404);
      expectIssued(await caller.speke(failed.resourceId, failed.kids));
      expectIssued(await caller.speke());
      caller.client.close();
      reportFigures('fault-kms-down', { ...figures, recoveredWithoutRestart: true });
    });

    it('with the default data-key cache, keeps issuing and serving through a short KMS outage', async () => {
      const caller = await kmsApp({});
      const before = await caller.speke();
      expectIssued(before);
      const [kid] = before.kids as [string];
      await whileSwitched(kms, 'down', async () => {
        expectIssued(await caller.speke());
        const served = await caller.key(before.resourceId, kid);
        expect(served.body.equals(keyOf(before, kid))).toBe(true);
      });
      caller.client.close();
    });
  });

  describe('DynamoDB endpoint down (moto behind a switchable TCP forwarder)', () => {
    let dynamo: TcpSwitch;
    let app: RunningApp;
    let drop: () => Promise<void>;
    beforeAll(async () => {
      const endpoint = startMoto();
      const fresh = await freshTable(endpoint);
      drop = fresh.drop;
      dynamo = await TcpSwitch.start(Number(new URL(endpoint).port));
      const store = dynamoDbBackend(dynamoClient(dynamo.endpoint), fresh.table);
      app = await startBackendApp({ store, cipher: new LocalEnvelopeCipher(crypto.randomBytes(32)) });
    }, 300_000);
    afterAll(async () => {
      await app.close();
      await dynamo.close();
      await drop();
    });

    it('SPEKE, key delivery, API-key checks and /healthz 503; all recover once it is back', async () => {
      const caller = new Caller(app.port);
      const before = await caller.speke();
      expectIssued(before);
      const [kid] = before.kids as [string];
      const figures: Record<string, number> = {};
      const failed = await whileSwitched(dynamo, 'down', async () => {
        const [attempt, spekeMs] = await timed(() => caller.speke());
        expectUnavailable(attempt.res);
        const [key, keyMs] = await timed(() => caller.key(before.resourceId, kid));
        expectUnavailable(key);
        const [health, healthMs] = await timed(() => caller.health());
        expectUnhealthy(health);
        const viaApiKey = await caller.client.send({
          method: 'GET',
          path: `/keys/${before.resourceId}/${kid}`,
          headers: { 'x-api-key': app.keyserverKey },
        });
        expectUnavailable(viaApiKey);
        Object.assign(figures, { spekeMs, keyMs, healthMs });
        return attempt;
      });
      expect((await caller.health()).status).toBe(200);
      const served = await caller.key(before.resourceId, kid);
      expect(served.body.equals(keyOf(before, kid))).toBe(true);
      for (const k of failed.kids) expect((await caller.key(failed.resourceId, k)).status).toBe(404);
      expectIssued(await caller.speke(failed.resourceId, failed.kids));
      caller.client.close();
      reportFigures('fault-dynamodb-down', { ...figures, recoveredWithoutRestart: true });
    });
  });
});
