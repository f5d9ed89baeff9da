import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { LocalEnvelopeCipher, loadOrCreateMasterKey } from '../../src/keys/local-cipher';
import { responseKeys, type ResponseKey } from '../helpers/cpix';
import { freshKids, hlsRequest } from '../helpers/cpix-docs';
import { LoopbackClient, type HttpResult } from '../helpers/http-client';
import { reportFigures } from '../helpers/report';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { ADMIN_KEY } from '../helpers/test-app';

/** SIGKILLs under load; KEYPLANE_CRASH_KILLS overrides. */
const KILLS = Number(process.env.KEYPLANE_CRASH_KILLS ?? 8);
const CONCURRENCY = 8;
/** Each round waits for this many 200s before it picks a random moment to kill. */
const MIN_ACKS_PER_ROUND = 25;
const MAX_REQUESTS_PER_ROUND = 20_000;
const MAX_KILL_DELAY_MS = 800;

/** One SPEKE request the client sent, and the keys it was given if it got a 200. */
interface Sent {
  resourceId: string;
  kids: string[];
  acked?: Map<string, ResponseKey>;
  /** Status and body start of an answer other than 200 (there should be none). */
  other?: string;
}

const HEADERS = { 'content-type': 'application/xml', 'x-api-key': ADMIN_KEY };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function spekeRequest(s: Sent) {
  return { method: 'POST', path: '/copyProtection', headers: HEADERS, body: hlsRequest(s.resourceId, s.kids) };
}

/** Sends new requests until the server goes away (or the round's cap); records every answer. */
async function worker(client: LoopbackClient, round: number, sent: Sent[], stop: { now: boolean }): Promise<void> {
  while (!stop.now && sent.length < MAX_REQUESTS_PER_ROUND * (round + 1)) {
    const s: Sent = { resourceId: `crash-${round}-${crypto.randomUUID()}`, kids: freshKids(1 + (sent.length % 3)) };
    sent.push(s);
    let res: HttpResult;
    try {
      res = await client.send(spekeRequest(s));
    } catch {
      return; // the server was killed: this request is unacknowledged
    }
    if (res.status === 200) s.acked = responseKeys(res.body.toString('utf8'));
    else s.other = `${res.status} ${res.body.toString('utf8').slice(0, 200)}`;
  }
}

/** Waits until `count` requests of this round were acknowledged (bounded), then a random moment more. */
async function waitForKillMoment(roundSent: () => Sent[], count: number): Promise<void> {
  for (let i = 0; i < 3000 && roundSent().filter((s) => s.acked).length < count; i++) await sleep(10);
  await sleep(crypto.randomInt(MAX_KILL_DELAY_MS));
}

/** One round: start on the data dir, load it, SIGKILL it mid-load. */
async function loadAndKill(dataDir: string, round: number, sent: Sent[]): Promise<void> {
  const proc = await startServerProcess(dataDir, { KEYPLANE_LOG_LEVEL: 'warn' });
  const client = new LoopbackClient(proc.port, CONCURRENCY);
  const firstOfRound = sent.length;
  const stop = { now: false };
  const workers = Array.from({ length: CONCURRENCY }, () => worker(client, round, sent, stop));
  await waitForKillMoment(() => sent.slice(firstOfRound), MIN_ACKS_PER_ROUND);
  await proc.kill('SIGKILL');
  stop.now = true;
  await Promise.all(workers);
  client.close();
}

async function getKey(client: LoopbackClient, resourceId: string, kid: string): Promise<HttpResult> {
  return client.send({ method: 'GET', path: `/keys/${resourceId}/${kid}`, headers: { 'x-api-key': ADMIN_KEY } });
}

/** Every acknowledged key is served byte-identical, and a retry of its request returns the same key and IV. */
async function verifyAcknowledged(client: LoopbackClient, acked: Sent[]): Promise<number> {
  let verified = 0;
  for (const s of acked) {
    const retry = await client.send(spekeRequest(s));
    expect(retry.status).toBe(200);
    expect(responseKeys(retry.body.toString('utf8'))).toEqual(s.acked);
    for (const [kid, k] of s.acked ?? []) {
      const served = await getKey(client, s.resourceId, kid);
      expect(served.status).toBe(200);
      expect(served.body.equals(k.key)).toBe(true);
      verified++;
    }
  }
  return verified;
}

/** A request that was cut off by a kill left all of its keys or none. */
async function verifyAllOrNothing(client: LoopbackClient, unacked: Sent[]): Promise<number> {
  let committed = 0;
  for (const s of unacked) {
    const statuses = await Promise.all(s.kids.map(async (kid) => (await getKey(client, s.resourceId, kid)).status));
    expect(new Set(statuses).size).toBe(1);
    expect([200, 404]).toContain(statuses[0]);
    if (statuses[0] === 200) committed++;
  }
  return committed;
}

interface KeyRow {
  kid: string;
  resource_id: string;
  sealed: Buffer;
}
interface LeaseRow {
  resource_id: string;
  kids: string;
}

/** The database file after all the kills: integrity, every sealed key opens, leases and keys agree. */
async function verifyDatabase(dataDir: string): Promise<{ integrity: string; keyRows: number; leaseRows: number }> {
  const db = new Database(path.join(dataDir, 'keyplane.db'), { readonly: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    const keys = db.prepare<[], KeyRow>("SELECT kid, resource_id, sealed FROM keys WHERE origin = 'speke'").all();
    const leases = db.prepare<[], LeaseRow>('SELECT resource_id, kids FROM leases').all();
    const cipher = new LocalEnvelopeCipher(loadOrCreateMasterKey(dataDir));
    for (const k of keys) {
      const plain = await cipher.open(k.sealed, { resourceId: k.resource_id, kid: k.kid });
      expect(plain).toHaveLength(32);
    }
    const keyOwner = new Map(keys.map((k) => [k.kid, k.resource_id]));
    const leased = new Set<string>();
    for (const lease of leases) {
      for (const kid of JSON.parse(lease.kids) as string[]) {
        expect(keyOwner.get(kid)).toBe(lease.resource_id);
        leased.add(kid);
      }
    }
    expect(keys.filter((k) => !leased.has(k.kid)).map((k) => k.kid)).toEqual([]);
    return { integrity, keyRows: keys.length, leaseRows: leases.length };
  } finally {
    db.close();
  }
}

/**
 * KIDs whose issuance the audit trail recorded, read from the file as the kills left it. The audit is
 * committed (to its own file, synchronous=NORMAL: no fsync, but written) before the 200, so a kill cannot lose it.
 */
function auditedIssues(dataDir: string): Set<string> {
  const db = new Database(path.join(dataDir, 'keyplane-audit.db'), { readonly: true });
  try {
    const rows = db.prepare<[], { kid: string }>("SELECT kid FROM audit WHERE action = 'issue'").all();
    return new Set(rows.map((r) => r.kid));
  } finally {
    db.close();
  }
}

describe('crash consistency under kill -9', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-crash-'));
  let final: ServerProcess | undefined;
  afterAll(async () => {
    await final?.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it(`serves every acknowledged key byte-identical after ${KILLS} SIGKILLs mid-load, with nothing half-written`, async () => {
    const started = Date.now();
    const sent: Sent[] = [];
    for (let round = 0; round < KILLS; round++) await loadAndKill(dataDir, round, sent);
    const audited = auditedIssues(dataDir);
    const ackedKids = sent.flatMap((s) => [...(s.acked?.keys() ?? [])]);
    expect(ackedKids.filter((kid) => !audited.has(kid))).toEqual([]);

    final = await startServerProcess(dataDir, { KEYPLANE_LOG_LEVEL: 'warn' });
    const client = new LoopbackClient(final.port, 1);
    const acked = sent.filter((s) => s.acked);
    expect(sent.flatMap((s) => s.other ?? []).slice(0, 5)).toEqual([]);
    const keysVerified = await verifyAcknowledged(client, acked);
    const unacked = sent.filter((s) => !s.acked);
    const unackedCommitted = await verifyAllOrNothing(client, unacked);
    client.close();
    await final.kill('SIGTERM');
    final = undefined;
    const db = await verifyDatabase(dataDir);
    expect(db.integrity).toBe('ok');

    reportFigures('crash-consistency', {
      kills: KILLS,
      concurrency: CONCURRENCY,
      requestsSent: sent.length,
      acknowledged: acked.length,
      keysVerified,
      issueAuditRecords: audited.size,
      unacknowledged: unacked.length,
      unacknowledgedButCommitted: unackedCommitted,
      ...db,
      ms: Date.now() - started,
    });
    expect(acked.length).toBeGreaterThanOrEqual(KILLS * MIN_ACKS_PER_ROUND);
  });
});
