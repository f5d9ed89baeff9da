import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { SpekeVersion } from '../cpix/cpix-model';
import type { DrmSettings } from '../drm/drm-system';
import { createDrmRegistry } from '../drm/registry';
import type { IssuedKey } from '../keys/key-service';
import { keyUrlBuilder } from '../keys/key-url';
import { answerSpekeRequest, readSpekeRequest, type ReadRequest } from './speke-engine';

/** What a SPEKE worker thread is started with: the settings the answers depend on. */
export interface SpekeWorkerSettings {
  drm: DrmSettings;
  publicUrl: string;
  keyUrlTemplate?: string;
  deliveryCertSha256?: string[];
}

/** A request to the thread; `req` numbers the reply, `job` the SPEKE request it belongs to. */
export type SpekeWorkerCall =
  | { op: 'begin'; req: number; job: number; body: string; speke: SpekeVersion }
  | { op: 'answer'; req: number; job: number; issued: { kid: string; key: Uint8Array; iv: Uint8Array }[] }
  | { op: 'done'; job: number };

/** An error as it crosses back: a KeyplaneError's fields, or a bug's name and message. */
export interface SpekeWorkerError {
  name: string;
  message: string;
  status?: number;
  code?: string;
  headers?: Record<string, string>;
  details?: Record<string, unknown>;
}

/** The thread's reply to one call. */
export type SpekeWorkerReply = { req: number; error?: SpekeWorkerError; plan?: ReadRequest['plan']; xml?: string };

const bytes = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

function described(err: unknown): SpekeWorkerError {
  const e = err as Partial<SpekeWorkerError> & { name?: string; message?: string };
  if (typeof e?.status === 'number' && typeof e.code === 'string') {
    return {
      name: String(e.name),
      message: String(e.message),
      status: e.status,
      code: e.code,
      headers: e.headers,
      details: e.details,
    };
  }
  return { name: String(e?.name ?? 'Error'), message: String(e?.message ?? err) };
}

/** Serves calls: reads requests into `jobs`, answers them, forgets them. */
function serve(settings: SpekeWorkerSettings): void {
  const drm = createDrmRegistry(settings.drm);
  const keyUrl = keyUrlBuilder(settings.publicUrl, settings.keyUrlTemplate);
  const jobs = new Map<number, ReadRequest>();
  parentPort?.on('message', (call: SpekeWorkerCall) => {
    if (call.op === 'done') {
      jobs.delete(call.job);
      return;
    }
    let reply: SpekeWorkerReply;
    try {
      if (call.op === 'begin') {
        const read = readSpekeRequest(call.body, call.speke, drm, settings.deliveryCertSha256);
        jobs.set(call.job, read);
        reply = { req: call.req, plan: read.plan };
      } else {
        const read = jobs.get(call.job);
        if (!read) throw new Error(`SPEKE job ${call.job} is not open on this thread`);
        const issued: IssuedKey[] = call.issued.map((k) => ({ kid: k.kid, key: bytes(k.key), iv: bytes(k.iv) }));
        reply = { req: call.req, xml: answerSpekeRequest(read, issued, drm, keyUrl) };
      }
    } catch (err) {
      reply = { req: call.req, error: described(err) };
    }
    parentPort?.postMessage(reply);
  });
}

if (!isMainThread && parentPort) serve(workerData as SpekeWorkerSettings);
