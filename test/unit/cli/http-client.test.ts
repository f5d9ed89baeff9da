import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { HttpClient } from '../../../src/cli/http-client';
import { writeFileAtomically } from '../../../src/cli/local-store';

/** A loopback server answering every request with `answer`; records the x-api-key it saw. */
async function server(answer: (res: http.ServerResponse) => void) {
  const seen: (string | undefined)[] = [];
  const s = http.createServer((req, res) => {
    seen.push(req.headers['x-api-key'] as string | undefined);
    answer(res);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { seen, url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, close: () => s.close() };
}

describe('the CLI HTTP client', () => {
  it('follows no redirect: the API key never reaches the Location, and the command fails saying why', async () => {
    const elsewhere = await server((res) => res.end('{}'));
    const redirector = await server((res) => res.writeHead(307, { location: `${elsewhere.url}/steal` }).end());
    try {
      const client = new HttpClient({ baseUrl: redirector.url, apiKey: 'SECRET-ADMIN-KEY', timeoutMs: 5000 });
      await expect(client.send('GET', '/api-keys')).rejects.toThrow(
        `${redirector.url}/api-keys answered HTTP 307, a redirect to ${elsewhere.url}/steal: not followed`,
      );
      expect(redirector.seen).toEqual(['SECRET-ADMIN-KEY']);
      expect(elsewhere.seen).toEqual([]);
    } finally {
      redirector.close();
      elsewhere.close();
    }
  });
});

describe('writeFileAtomically', () => {
  it('writes 0600 and replaces a symlink planted at the name instead of following it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-cli-write-'));
    try {
      const victim = path.join(dir, 'victim');
      fs.writeFileSync(victim, 'untouched');
      const out = path.join(dir, 'response.xml');
      fs.symlinkSync(victim, out);
      writeFileAtomically(out, '<keys/>');
      expect(fs.readFileSync(victim, 'utf8')).toBe('untouched');
      expect(fs.lstatSync(out).isSymbolicLink()).toBe(false);
      expect(fs.statSync(out).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(out, 'utf8')).toBe('<keys/>');
      expect(fs.readdirSync(dir).sort()).toEqual(['response.xml', 'victim']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
