import type { Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { createHttpServer } from '../../src/server';
import { slowRequest } from '../helpers/slow-client';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

const TIMEOUTS = { headersTimeoutMs: 300, requestTimeoutMs: 1500, keepAliveTimeoutMs: 5000 };

let t: TestApp;
let server: Server;
let port: number;

beforeAll(async () => {
  t = await makeTestApp();
  server = createHttpServer(t.app, TIMEOUTS);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await t.close();
});

const heartbeat = () => fetch(`http://127.0.0.1:${port}/heartbeat`).then((r) => r.status);

function speke(headers: string, contentLength: number): string {
  return (
    `POST /copyProtection HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\n${headers}` +
    `Content-Length: ${contentLength}\r\n\r\n`
  );
}

describe('slow senders are cut off', () => {
  it('closes a connection dribbling its headers with 408 after the headers timeout, serving others meanwhile', async () => {
    const slow = slowRequest(port, 'POST /copyProtection HTTP/1.1\r\nHost: x\r\n', { drip: 'X-Drip: 1\r\n' });
    await new Promise((r) => setTimeout(r, 100));
    expect(await heartbeat()).toBe(200);
    const res = await slow;
    expect(res.text).toMatch(/^HTTP\/1\.1 408/);
    expect(res.closedMs).toBeLessThan(TIMEOUTS.requestTimeoutMs + 2000);
  });

  it('closes a connection that connects and sends nothing', async () => {
    const res = await slowRequest(port, '');
    expect(res.closedMs).toBeLessThan(TIMEOUTS.requestTimeoutMs + 2000);
  });

  it('closes an authenticated request dribbling its body with 408 after the request timeout', async () => {
    const slow = slowRequest(port, speke(`x-api-key: ${ADMIN_KEY}\r\n`, 100_000), { drip: '<a/>', everyMs: 50 });
    await new Promise((r) => setTimeout(r, 400));
    expect(await heartbeat()).toBe(200);
    const res = await slow;
    expect(res.text).toMatch(/^HTTP\/1\.1 408/);
    expect(res.closedMs).toBeGreaterThanOrEqual(TIMEOUTS.requestTimeoutMs - 100);
    expect(res.closedMs).toBeLessThan(TIMEOUTS.requestTimeoutMs + 3000);
  });

  it('answers a wrong API key with 401 before the body is sent, and then drops the connection', async () => {
    const res = await slowRequest(port, speke('x-api-key: not-a-key-0123456789abcdef\r\n', 1_000_000));
    expect(res.text).toMatch(/^HTTP\/1\.1 401/);
    // The body was never sent: the answer came from the headers alone, long before the request timeout.
    expect(res.firstByteMs).toBeLessThan(TIMEOUTS.requestTimeoutMs);
    // ...and the connection is closed with it (Connection: close), not held until the request timeout.
    expect(res.text).toMatch(/connection: close/i);
    expect(res.closedMs).toBeLessThan(TIMEOUTS.requestTimeoutMs);
  });

  it('keeps an idle keep-alive connection open past the headers timeout and reuses it', async () => {
    const req = 'GET /heartbeat HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
    const res = await new Promise<string>((resolve) => {
      let text = '';
      const socket = net.connect(port, '127.0.0.1', () => socket.write(req));
      socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
      setTimeout(() => socket.write(req), TIMEOUTS.headersTimeoutMs * 3);
      setTimeout(
        () => {
          socket.destroy();
          resolve(text);
        },
        TIMEOUTS.headersTimeoutMs * 3 + 500,
      );
    });
    expect(res.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
  });
});
