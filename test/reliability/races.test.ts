import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dynamoDbBackend } from '../../src/store/dynamodb';
import { KmsEnvelopeCipher } from '../../src/keys/kms-cipher';
import { startBackendApp, type RunningApp } from '../helpers/backend-app';
import { responseKeys } from '../helpers/cpix';
import { freshKids, hlsRequest } from '../helpers/cpix-docs';
import { errorBody, LoopbackClient, type HttpResult } from '../helpers/http-client';
import { createKmsKey, dynamoClient, freshTable, kmsClient, startSerialMoto } from '../helpers/moto';
import { reportFigures } from '../helpers/report';
import { createApiKey, startServerProcess, type ServerProcess } from '../helpers/server-process';

const PARALLEL = 100;
/** Races per backend; KEYPLANE_RACE_ROUNDS overrides both. */
const rounds = (fallback: number) => Number(process.env.KEYPLANE_RACE_ROUNDS ?? fallback);
const SQLITE_ROUNDS = rounds(10);
const DYNAMODB_ROUNDS = rounds(2);

interface Outcome {
  kids: string[];
  res: HttpResult;
}

/** Where a race's requests go: one client per process, encoder keys used in turn. */
interface RaceSetup {
  clients: LoopbackClient[];
  encoderKeys: string[];
  keyserverKey: string;
}

/** Sends PARALLEL concurrent SPEKE requests for one resource ID, each with its own fresh KIDs (1-3). */
async function race(setup: RaceSetup, resourceId: string): Promise<Outcome[]> {
  const kidSets = Array.from({ length: PARALLEL }, (_, i) => freshKids(1 + (i % 3)));
  const results = await Promise.all(
    kidSets.map((kids, i) =>
      (setup.clients[i % setup.clients.length] as LoopbackClient).send({
        method: 'POST',
        path: '/copyProtection',
        headers: {
          'content-type': 'application/xml',
          'x-api-key': setup.encoderKeys[i % setup.encoderKeys.length] as string,
        },
        body: hlsRequest(resourceId, kids),
      }),
    ),
  );
  return kidSets.map((kids, i) => ({ kids, res: results[i] as HttpResult }));
}

async function getKey(setup: RaceSetup, i: number, resourceId: string, kid: string): Promise<HttpResult> {
  const client = setup.clients[i % setup.clients.length] as LoopbackClient;
  return client.send({
    method: 'GET',
    path: `/keys/${resourceId}/${kid}`,
    headers: { 'x-api-key': setup.keyserverKey },
  });
}

/** One 200 and PARALLEL-1 lease conflicts; the winner's keys are served, no loser's KID was stored. */
async function expectOneWinner(setup: RaceSetup, resourceId: string, outcomes: Outcome[]): Promise<void> {
  const statuses = outcomes.map((o) => o.res.status);
  const odd = outcomes.filter((o) => o.res.status !== 200 && o.res.status !== 409);
  expect(odd.map((o) => `${o.res.status} ${o.res.body.toString('utf8').slice(0, 200)}`)).toEqual([]);
  expect(statuses.filter((s) => s === 200)).toHaveLength(1);
  expect(statuses.filter((s) => s === 409)).toHaveLength(PARALLEL - 1);
  for (const o of outcomes.filter((x) => x.res.status === 409)) {
    expect(errorBody(o.res)?.error).toBe('lease_conflict');
    expect(Number(o.res.headers['retry-after'])).toBeGreaterThan(0);
  }
  const winner = outcomes.find((o) => o.res.status === 200) as Outcome;
  const issued = responseKeys(winner.res.body.toString('utf8'));
  for (const [i, kid] of winner.kids.entries()) {
    const served = await getKey(setup, i, resourceId, kid);
    expect(served.status).toBe(200);
    expect(served.body.equals(issued.get(kid)?.key as Buffer)).toBe(true);
  }
  const loserKids = outcomes.filter((o) => o !== winner).flatMap((o) => o.kids);
  const lookups = await Promise.all(loserKids.map((kid, i) => getKey(setup, i, resourceId, kid)));
  expect(lookups.filter((r) => r.status !== 404)).toEqual([]);
}

async function runRounds(name: string, count: number, setup: RaceSetup): Promise<void> {
  const started = Date.now();
  for (let round = 0; round < count; round++) {
    const resourceId = `race-${name}-${round}-${Date.now()}`;
    await expectOneWinner(setup, resourceId, await race(setup, resourceId));
  }
  reportFigures(`race-${name}`, { rounds: count, parallel: PARALLEL, ms: Date.now() - started });
}

describe(`${PARALLEL} parallel conflicting SPEKE requests for one resource ID`, () => {
  describe('SQLite', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-race-'));
    const procs: ServerProcess[] = [];
    const clients: LoopbackClient[] = [];
    let encoderKeys: string[] = [];
    let keyserverKey = '';

    beforeAll(async () => {
      procs.push(await startServerProcess(dataDir));
      procs.push(await startServerProcess(dataDir));
      for (const p of procs) clients.push(new LoopbackClient(p.port, PARALLEL));
      const port = (procs[0] as ServerProcess).port;
      encoderKeys = [await createApiKey(port, 'enc-1', ['encoder']), await createApiKey(port, 'enc-2', ['encoder'])];
      keyserverKey = await createApiKey(port, 'proxy', ['keyserver']);
    });
    afterAll(async () => {
      clients.forEach((c) => c.close());
      await Promise.all(procs.map((p) => p.kill('SIGKILL')));
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it('one server process: exactly one 200 and 99 × 409', async () => {
      await runRounds('sqlite-1proc', SQLITE_ROUNDS, { clients: clients.slice(0, 1), encoderKeys, keyserverKey });
    });

    it('two server processes on one data dir: exactly one 200 and 99 × 409', async () => {
      await runRounds('sqlite-2proc', SQLITE_ROUNDS, { clients, encoderKeys, keyserverKey });
    });
  });

  describe('DynamoDB and KMS (moto)', () => {
    const apps: RunningApp[] = [];
    const clients: LoopbackClient[] = [];
    let stopMoto: () => Promise<void> = async () => undefined;

    beforeAll(async () => {
      // One request at a time: see startSerialMoto (moto's threaded server breaks transaction atomicity).
      const moto = await startSerialMoto();
      stopMoto = moto.stop;
      const endpoint = moto.endpoint;
      const fresh = await freshTable(endpoint);
      const keyId = await createKmsKey(endpoint);
      // Two app instances with their own clients and caches on one table: like two Lambda containers.
      // Patient clients: the serial moto queues 100 requests, which is slow, not an outage.
      const backends = () => ({
        store: dynamoDbBackend(dynamoClient(endpoint, true), fresh.table),
        cipher: new KmsEnvelopeCipher(kmsClient(endpoint, true), {
          keyId,
          encryptionContext: { app: 'keyplane-race' },
        }),
      });
      const first = await startBackendApp(backends());
      apps.push(first, await startBackendApp(backends(), first));
      for (const a of apps) clients.push(new LoopbackClient(a.port, PARALLEL));
    }, 300_000);
    afterAll(async () => {
      clients.forEach((c) => c.close());
      await Promise.all(apps.map((a) => a.close()));
      await stopMoto();
    });

    it('one app: exactly one 200 and 99 × 409', async () => {
      const a = apps[0] as RunningApp;
      await runRounds('dynamodb-1app', DYNAMODB_ROUNDS, {
        clients: clients.slice(0, 1),
        encoderKeys: [a.encoderKey, a.encoder2Key],
        keyserverKey: a.keyserverKey,
      });
    });

    it('two apps on one table: exactly one 200 and 99 × 409', async () => {
      const a = apps[0] as RunningApp;
      await runRounds('dynamodb-2apps', DYNAMODB_ROUNDS, {
        clients,
        encoderKeys: [a.encoderKey, a.encoder2Key],
        keyserverKey: a.keyserverKey,
      });
    });
  });
});
