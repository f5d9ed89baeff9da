import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Response as SupertestResponse } from 'supertest';

/** An app listening on 127.0.0.1 on a free port, for clients that need a real URL (signed fetch). */
export interface LiveApp {
  baseUrl: string;
  close: () => Promise<void>;
}

/** Starts `app` on 127.0.0.1:0. */
export async function listen(app: Express): Promise<LiveApp> {
  const server = await new Promise<import('node:http').Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A fetch response read once, shaped like what `expectMatchesSpec` reads from supertest. */
export interface ReadResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  bytes: Buffer;
  body: unknown;
}

/** Reads a fetch response fully (JSON parsed, binary kept as a Buffer). */
export async function read(res: globalThis.Response): Promise<ReadResponse> {
  const bytes = Buffer.from(await res.arrayBuffer());
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  const type = headers['content-type'] ?? '';
  const text = type.startsWith('application/octet-stream') ? '' : bytes.toString('utf8');
  const body = type.startsWith('application/json') ? JSON.parse(text) : bytes;
  return { status: res.status, headers, text, bytes, body };
}

/** Lets `expectMatchesSpec` validate a fetch response. */
export const asSpec = (r: ReadResponse): SupertestResponse => r as unknown as SupertestResponse;
