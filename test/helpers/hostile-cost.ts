import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { namespaceScopeDoc, v1ManyKeysRequest, v2RotationRequest } from './cost-docs';
import { LoopbackClient } from './http-client';
import { slowRequest } from './slow-client';

const MB = 1024 * 1024;
const OPEN = '<cpix:CPIX id="hostile-cost" xmlns:cpix="urn:dashif:org:cpix">';
const KEY_LIST =
  '<cpix:ContentKeyList><cpix:ContentKey kid="6c5f5206-7d98-4808-84d8-94f132c1e9fe"/></cpix:ContentKeyList>';

/** The server a run talks to, its timeouts and the credentials its callers hold. */
export interface CostTarget {
  port: number;
  encoderKey: string;
  sigv4: { accessKeyId: string; secretAccessKey: string };
  requestTimeoutMs: number;
}

/** One hostile request: its class, what it does, and the statuses that are a right answer (0: connection closed). */
export interface CostCase {
  cls: 'xml-cost' | 'auth-before-body' | 'slow-sender';
  name: string;
  expect: number[];
  run: (t: CostTarget) => Promise<number | Answered>;
}

/** A raw exchange's status and when its first byte came (before the connection closed, perhaps much later). */
interface Answered {
  status: number;
  firstByteMs?: number;
}

/** Fills a document up to about `bytes` by repeating `unit` inside the CPIX root. */
function fill(unit: string, bytes = MB - 200, open = OPEN): string {
  return `${open}${KEY_LIST}${unit.repeat(Math.floor(bytes / unit.length))}</cpix:CPIX>`;
}

/** Status recorded when the server closed the connection while the body was still being sent. */
export const CUT_OFF = -1;

async function post(t: CostTarget, body: string, headers: Record<string, string> = {}): Promise<number> {
  const client = new LoopbackClient(t.port);
  try {
    const res = await client.send({
      method: 'POST',
      path: '/copyProtection',
      headers: { 'content-type': 'application/xml', 'x-api-key': t.encoderKey, ...headers },
      body,
    });
    return res.status;
  } catch (err) {
    // The request timeout cut a slow upload: Node answers 408 and closes the socket, and a client still
    // writing its body may see the reset before it reads the 408.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ECONNRESET' || code === 'EPIPE') return CUT_OFF;
    throw err;
  } finally {
    client.close();
  }
}

const answered = (r: { text: string; firstByteMs?: number }): Answered => ({
  status: Number(/^HTTP\/1\.1 (\d{3})/.exec(r.text)?.[1] ?? 0),
  firstByteMs: r.firstByteMs,
});

/** Request head for a POST whose body is announced but never sent. */
function headOnly(headers: Record<string, string>, contentLength: number): string {
  const lines = Object.entries({ ...headers, 'content-length': String(contentLength) }).map(([k, v]) => `${k}: ${v}`);
  return `POST /copyProtection HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

async function sigv4Head(t: CostTarget, secret: string): Promise<string> {
  const host = `127.0.0.1:${t.port}`;
  const signer = new SignatureV4({
    credentials: { accessKeyId: t.sigv4.accessKeyId, secretAccessKey: secret },
    region: 'us-east-1',
    service: 'execute-api',
    sha256: Sha256,
  });
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: t.port,
    path: '/copyProtection',
    query: {},
    headers: { host, 'content-type': 'application/xml' },
    body: 'x'.repeat(MB - 1),
  });
  return headOnly(signed.headers, MB - 1);
}

/** Every hostile case, by class. */
export const COST_CASES: CostCase[] = [
  {
    cls: 'xml-cost',
    name: 'ns-scope-1mb',
    expect: [400],
    run: (t) => post(t, namespaceScopeDoc(30, Math.floor(MB / 26))),
  },
  {
    cls: 'xml-cost',
    name: 'root-attributes-1mb',
    expect: [400],
    run: (t) => post(t, fill(' a=""', MB - 300, '<cpix:CPIX')),
  },
  {
    cls: 'xml-cost',
    name: 'attributes-60-per-element-1mb-within-limits',
    expect: [200],
    run: (t) => post(t, fill(`<x ${Array.from({ length: 60 }, (_, i) => `a${i}="v"`).join(' ')}/>`)),
  },
  {
    cls: 'xml-cost',
    name: 'elements-99k-31-namespaces-within-limits',
    expect: [200],
    run: (t) => {
      const decls = Array.from({ length: 31 }, (_, i) => `xmlns:p${i}="urn:p${i}"`).join(' ');
      return post(t, `${OPEN.replace('>', ` ${decls}>`)}${KEY_LIST}${'<x/>'.repeat(99_000)}</cpix:CPIX>`);
    },
  },
  { cls: 'xml-cost', name: 'siblings-1mb', expect: [413], run: (t) => post(t, fill('<x/>')) },
  { cls: 'xml-cost', name: 'comments-1mb', expect: [200], run: (t) => post(t, fill('<!---->')) },
  { cls: 'xml-cost', name: 'cdata-1mb', expect: [200], run: (t) => post(t, fill('<![CDATA[]]><x/>')) },
  { cls: 'xml-cost', name: 'processing-instructions-1mb', expect: [200], run: (t) => post(t, fill('<?p?>')) },
  { cls: 'xml-cost', name: 'text-runs-1mb', expect: [413], run: (t) => post(t, fill('a<x/>')) },
  { cls: 'xml-cost', name: 'long-text-1mb', expect: [400], run: (t) => post(t, fill('a')) },
  {
    cls: 'xml-cost',
    name: 'long-attribute-1mb',
    expect: [400],
    run: (t) => post(t, `<cpix:CPIX id="${'a'.repeat(MB - 100)}" xmlns:cpix="urn:dashif:org:cpix"/>`),
  },
  {
    cls: 'xml-cost',
    name: 'long-tag-white-space-1mb',
    expect: [400],
    run: (t) => post(t, `<cpix:CPIX${' '.repeat(MB - 100)} xmlns:cpix="urn:dashif:org:cpix"/>`),
  },
  { cls: 'xml-cost', name: 'long-name-1mb', expect: [400], run: (t) => post(t, fill(`<${'n'.repeat(MB - 300)}/>`)) },
  {
    cls: 'xml-cost',
    name: 'deep-32-repeated-1mb',
    expect: [400, 413],
    run: (t) => post(t, fill(`${'<a>'.repeat(30)}${'</a>'.repeat(30)}`)),
  },
  {
    cls: 'auth-before-body',
    name: 'wrong-api-key-body-never-sent',
    expect: [401],
    run: async (t) => {
      const head = headOnly(
        { host: 'x', 'content-type': 'application/xml', 'x-api-key': 'wrong-key-0123456789abcdef' },
        MB,
      );
      return answered(await slowRequest(t.port, head, { giveUpMs: t.requestTimeoutMs + 5000 }));
    },
  },
  {
    cls: 'auth-before-body',
    name: 'sigv4-wrong-secret-body-never-sent',
    expect: [403],
    run: async (t) => {
      const head = await sigv4Head(t, 'not-the-secret-0123456789abcdef');
      return answered(await slowRequest(t.port, head, { giveUpMs: t.requestTimeoutMs + 5000 }));
    },
  },
  {
    cls: 'slow-sender',
    name: 'headers-dribbled',
    expect: [408],
    run: async (t) =>
      answered(await slowRequest(t.port, 'POST /copyProtection HTTP/1.1\r\nHost: x\r\n', { drip: 'X-A: 1\r\n' })),
  },
  {
    cls: 'slow-sender',
    name: 'body-dribbled',
    expect: [408],
    run: async (t) => {
      const head = headOnly({ host: 'x', 'content-type': 'application/xml', 'x-api-key': t.encoderKey }, MB);
      return answered(await slowRequest(t.port, head, { drip: '<a/>', everyMs: 50 }));
    },
  },
  {
    cls: 'slow-sender',
    name: 'silent-connection',
    expect: [0, 408],
    run: async (t) => answered(await slowRequest(t.port, '')),
  },
];

/** What a case measured. */
export interface CaseFigures {
  cls: string;
  status: number;
  /** Until the answer was complete and, for raw connections, closed. */
  ms: number;
  /** Raw connections: when the answer's first byte came. */
  firstByteMs?: number;
}

/** Runs one case, timing it. */
export async function runCase(t: CostTarget, c: CostCase): Promise<CaseFigures> {
  const started = process.hrtime.bigint();
  const r = await c.run(t);
  const { status, firstByteMs } = typeof r === 'number' ? { status: r, firstByteMs: undefined } : r;
  return { cls: c.cls, status, ms: Math.round(Number(process.hrtime.bigint() - started) / 1e6), firstByteMs };
}

/** Sends a honest SPEKE request of the given version and size; returns status and milliseconds. */
/** One key delivery (`GET /keys/{resourceId}/{kid}`) as a keyserver proxy makes it, timed. */
export async function honestDelivery(
  port: number,
  apiKey: string,
  resourceId: string,
  kid: string,
): Promise<{ status: number; ms: number }> {
  const client = new LoopbackClient(port);
  const started = process.hrtime.bigint();
  try {
    const res = await client.send({
      method: 'GET',
      path: `/keys/${resourceId}/${kid}`,
      headers: { 'x-api-key': apiKey },
    });
    return { status: res.status, ms: Math.round(Number(process.hrtime.bigint() - started) / 1e6) };
  } finally {
    client.close();
  }
}

export async function honestSpeke(
  t: CostTarget,
  version: '1.0' | '2.0',
  keys: number,
  resourceId: string,
  scheme = 'cbcs',
): Promise<{ status: number; ms: number; bytes: number }> {
  const body = version === '1.0' ? v1ManyKeysRequest(resourceId, keys) : v2RotationRequest(resourceId, keys, scheme);
  const started = process.hrtime.bigint();
  const status = await post(t, body, version === '1.0' ? {} : { 'x-speke-version': version });
  return { status, ms: Math.round(Number(process.hrtime.bigint() - started) / 1e6), bytes: Buffer.byteLength(body) };
}
