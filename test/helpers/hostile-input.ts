import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fixture } from './fixtures';
import { LoopbackClient, type HttpResult } from './http-client';
import { createApiKey, rssKiB, startServerProcess } from './server-process';

const MB = 1024 * 1024;
const CPIX_OPEN = '<cpix:CPIX id="hostile" xmlns:cpix="urn:dashif:org:cpix">';
const KEY_LIST =
  '<cpix:ContentKeyList><cpix:ContentKey kid="6c5f5206-7d98-4808-84d8-94f132c1e9fe"/></cpix:ContentKeyList>';

/** Where hostile requests go, and the credentials they carry. */
export interface HostileTarget {
  port: number;
  pid: number;
  encoderKey: string;
  /** Port of a listener that counts requests: an external entity pointing there must never be fetched. */
  xxePort: number;
}

/** One kind of hostile request and the statuses that are an acceptable answer. */
interface HostileCase {
  name: string;
  expect: number[];
  send: (t: HostileTarget, client: LoopbackClient) => Promise<HttpResult>;
}

/** What a hostile-input run measured. */
export interface HostileFigures {
  rounds: number;
  requests: number;
  rssKiBBefore: number;
  rssKiBAfter: number;
  rssKiBPeak: number;
  maxMsByCase: Record<string, number>;
  statusByCase: Record<string, number>;
  maxResponseBytes: number;
  xxeFetches: number;
}

function post(t: HostileTarget, client: LoopbackClient, body: Buffer | string, headers: Record<string, string> = {}) {
  return client.send({
    method: 'POST',
    path: '/copyProtection',
    headers: { 'content-type': 'application/xml', 'x-api-key': t.encoderKey, ...headers },
    body,
  });
}

/** Waits for 'drain' or the end of the request, whichever comes first. */
function drained(req: http.ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off('drain', done);
      req.off('close', done);
      resolve();
    };
    req.on('drain', done);
    req.on('close', done);
  });
}

/**
 * Streams `total` bytes with chunked encoding (no Content-Length, so the server cannot refuse up
 * front) and resolves with the response even when the server stops reading half-way.
 */
function postChunked(t: HostileTarget, total: number): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(
      {
        host: '127.0.0.1',
        port: t.port,
        method: 'POST',
        path: '/copyProtection',
        agent: false,
        headers: { 'content-type': 'application/xml', 'x-api-key': t.encoderKey, 'transfer-encoding': 'chunked' },
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    void (async () => {
      for (let sent = 0; sent < total && !answered && !req.destroyed; sent += chunk.length) {
        if (!req.write(chunk)) await drained(req);
      }
      if (!req.destroyed) req.end();
    })();
  });
}

/** Replaces one marker in a valid document with raw bytes (which may not be UTF-8). */
function withBytes(bytes: number[]): Buffer {
  const doc = fixture('v1/hls-single-key.xml');
  const [head, tail] = doc.split('<!-- HLS AES-128');
  return Buffer.concat([Buffer.from(`${head}<!-- `), Buffer.from(bytes), Buffer.from(` HLS AES-128${tail}`)]);
}

const CASES: HostileCase[] = [
  { name: 'xxe-file', expect: [400], send: (t, c) => post(t, c, fixture('v1/rejected/xxe-file.xml')) },
  {
    name: 'xxe-url',
    expect: [400],
    send: (t, c) =>
      post(
        t,
        c,
        `<?xml version="1.0"?><!DOCTYPE cpix:CPIX [ <!ENTITY % dtd SYSTEM "http://127.0.0.1:${t.xxePort}/evil.dtd"> %dtd;` +
          ` <!ENTITY ext SYSTEM "http://127.0.0.1:${t.xxePort}/secret"> ]>` +
          `${CPIX_OPEN}<cpix:ContentKeyList><cpix:ContentKey kid="6c5f5206-7d98-4808-84d8-94f132c1e9fe">&ext;` +
          '</cpix:ContentKey></cpix:ContentKeyList></cpix:CPIX>',
      ),
  },
  { name: 'billion-laughs', expect: [400], send: (t, c) => post(t, c, fixture('v1/rejected/billion-laughs.xml')) },
  { name: 'body-10mb', expect: [413], send: (t, c) => post(t, c, Buffer.alloc(10 * MB, 0x61)) },
  { name: 'body-10mb-chunked', expect: [413], send: (t) => postChunked(t, 10 * MB) },
  {
    name: 'gzip-bomb-10mb',
    expect: [413],
    send: (t, c) => post(t, c, zlib.gzipSync(Buffer.alloc(10 * MB, 0x20)), { 'content-encoding': 'gzip' }),
  },
  {
    name: 'deep-nesting-100k',
    expect: [400],
    send: (t, c) => post(t, c, `${CPIX_OPEN}${'<a>'.repeat(100_000)}${'</a>'.repeat(100_000)}</cpix:CPIX>`),
  },
  { name: 'deep-nesting-unclosed', expect: [400], send: (t, c) => post(t, c, '<a>'.repeat(300_000)) },
  {
    name: 'deep-nesting-40-in-cpix',
    expect: [400],
    send: (t, c) => post(t, c, `${CPIX_OPEN}${KEY_LIST}${'<x>'.repeat(40)}${'</x>'.repeat(40)}</cpix:CPIX>`),
  },
  {
    name: 'many-attributes',
    expect: [400],
    send: (t, c) => {
      const attrs = Array.from({ length: 50_000 }, (_, i) => `a${i}=""`).join(' ');
      return post(t, c, `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" ${attrs}>${KEY_LIST}</cpix:CPIX>`);
    },
  },
  {
    name: 'huge-attribute',
    expect: [400],
    send: (t, c) =>
      post(t, c, `<cpix:CPIX id="${'a'.repeat(900_000)}" xmlns:cpix="urn:dashif:org:cpix">${KEY_LIST}</cpix:CPIX>`),
  },
  { name: 'invalid-utf8-byte', expect: [400], send: (t, c) => post(t, c, withBytes([0xff, 0xfe])) },
  { name: 'invalid-utf8-overlong', expect: [400], send: (t, c) => post(t, c, withBytes([0xc0, 0xaf])) },
  { name: 'invalid-utf8-surrogate', expect: [400], send: (t, c) => post(t, c, withBytes([0xed, 0xa0, 0x80])) },
  { name: 'invalid-utf8-truncated', expect: [400], send: (t, c) => post(t, c, withBytes([0xe2, 0x82])) },
];

/** A listener on a free loopback port that counts what reaches it (nothing should). */
export async function startXxeListener(): Promise<{ port: number; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server = http.createServer((_req, res) => {
    hits++;
    res.end('<!ENTITY leaked "yes">');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    hits: () => hits,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Sends every hostile case once; throws naming the case on an unexpected status or a large answer. */
async function oneRound(t: HostileTarget, client: LoopbackClient, figures: HostileFigures): Promise<void> {
  for (const hc of CASES) {
    const started = process.hrtime.bigint();
    const res = await hc.send(t, client);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    figures.maxMsByCase[hc.name] = Math.max(figures.maxMsByCase[hc.name] ?? 0, Math.round(ms));
    figures.statusByCase[hc.name] = res.status;
    figures.maxResponseBytes = Math.max(figures.maxResponseBytes, res.body.length);
    figures.requests++;
    if (!hc.expect.includes(res.status)) {
      throw new Error(
        `${hc.name}: expected ${hc.expect.join('/')}, got ${res.status} ${res.body.toString('utf8').slice(0, 300)}`,
      );
    }
    figures.rssKiBPeak = Math.max(figures.rssKiBPeak, rssKiB(t.pid));
  }
}

/**
 * Runs `rounds` rounds of every hostile case against a server process (after one warm-up round)
 * and measures its resident memory before, at peak and after. Throws on the first wrong answer.
 */
export async function runHostileRounds(
  t: HostileTarget,
  rounds: number,
  xxeHits: () => number,
): Promise<HostileFigures> {
  const client = new LoopbackClient(t.port);
  const figures: HostileFigures = {
    rounds,
    requests: 0,
    rssKiBBefore: 0,
    rssKiBAfter: 0,
    rssKiBPeak: 0,
    maxMsByCase: {},
    statusByCase: {},
    maxResponseBytes: 0,
    xxeFetches: 0,
  };
  try {
    await oneRound(t, client, figures);
    figures.rssKiBBefore = rssKiB(t.pid);
    for (let i = 0; i < rounds; i++) await oneRound(t, client, figures);
    figures.rssKiBAfter = rssKiB(t.pid);
    figures.xxeFetches = xxeHits();
    return figures;
  } finally {
    client.close();
  }
}

/** A fresh server process with an encoder key and an XXE listener; `stop` tears all of it down. */
export async function startHostileTarget(): Promise<{
  target: HostileTarget;
  xxeHits: () => number;
  stop: () => Promise<void>;
}> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-hostile-'));
  const xxe = await startXxeListener();
  const proc = await startServerProcess(dataDir);
  const encoderKey = await createApiKey(proc.port, 'encoder', ['encoder']);
  const stop = async () => {
    await proc.kill('SIGKILL');
    await xxe.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  return { target: { port: proc.port, pid: proc.pid, encoderKey, xxePort: xxe.port }, xxeHits: xxe.hits, stop };
}
