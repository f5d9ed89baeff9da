import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readCpixResponse } from '../../src/cli/cpix-response-reader';
import { SYSTEM_IDS } from '../../src/drm/drm-system';
import { hlsRequest } from '../helpers/cpix-docs';
import { FIXTURES } from '../helpers/fixtures';
import { ffmpegOk, parseFrameMd5, requireFfmpeg } from './ffmpeg';
import { createApiKey, startKeyplane, type KeyplaneProcess } from './keyplane-process';
import { initPsshBoxes } from './mp4-boxes';
import { decryptWithPackager, joinSegments, makeClearMp4, packageEncrypted, requirePackager } from './shaka-packager';

// Real compiled server and real packager: keys SPEKE issued, read back with GET /cpix/{resourceId} (encrypted to a
// delivery certificate, as a packager that reads CPIX from a URL would take them), drive Shaka Packager's raw-key
// CENC with the CPIX document's key and pssh boxes; the output decrypts with the key GET /keys serves to the
// frames of the clear source.

jest.setTimeout(60_000);

const ADMIN_KEY = `e2e-admin-${crypto.randomBytes(12).toString('hex')}`;
const certPem = (name: string) => fs.readFileSync(path.join(FIXTURES, 'certs', name), 'utf8');

let kp: KeyplaneProcess;
let work: string;
let source: string;

beforeAll(async () => {
  requireFfmpeg();
  await requirePackager();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-cpix-get-'));
  source = path.join(work, 'clear.mp4');
  [kp] = await Promise.all([startKeyplane(ADMIN_KEY), makeClearMp4(source, 2)]);
});

afterAll(async () => {
  await kp?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const videoFrames = async (file: string) =>
  parseFrameMd5((await ffmpegOk(['-i', file, '-map', '0:v:0', '-f', 'framemd5', '-'])).stdout);

it('a packager takes its key and pssh boxes from GET /cpix and the output decrypts to the source', async () => {
  const encoder = await createApiKey(kp, 'encoder', ['encoder']);
  const keyserver = await createApiKey(kp, 'proxy', ['keyserver']);
  const resourceId = `e2e-cpix-get-${crypto.randomUUID()}`;
  const kid = crypto.randomUUID();
  const issued = await fetch(`${kp.baseUrl}/copyProtection`, {
    method: 'POST',
    headers: { 'x-api-key': encoder, 'content-type': 'application/xml' },
    body: hlsRequest(resourceId, [kid]),
  });
  expect(issued.status).toBe(200);

  const res = await fetch(`${kp.baseUrl}/cpix/${resourceId}?kid=${kid}&drm=widevine,clearkey`, {
    headers: {
      'x-api-key': encoder,
      'X-Cpix-Delivery-Certificate': new crypto.X509Certificate(certPem('delivery.pem')).raw.toString('base64'),
    },
  });
  const xml = await res.text();
  expect(res.status).toBe(200);
  const cpix = readCpixResponse(xml, crypto.createPrivateKey(certPem('delivery-key.pem')));
  expect(cpix.encrypted).toBe(true);
  const key = cpix.keys.find((k) => k.kid === kid)?.key as Buffer;
  const pssh = [SYSTEM_IDS.widevine, SYSTEM_IDS.clearkey].map(
    (id) => cpix.drmSystems.find((d) => d.systemId === id)?.pssh as Buffer,
  );
  expect(pssh.every((box) => box?.length > 32)).toBe(true);

  const dir = path.join(work, 'dash');
  await packageEncrypted({ source, stream: 'video', dir, key: { label: 'VIDEO', kid, key }, scheme: 'cenc', pssh });
  const encrypted = joinSegments(path.join(dir, 'video'), path.join(work, 'encrypted.mp4'));
  expect(initPsshBoxes(fs.readFileSync(path.join(dir, 'video', 'init.mp4')))).toEqual(expect.arrayContaining(pssh));

  const served = await fetch(`${kp.baseUrl}/keys/${resourceId}/${kid}`, { headers: { 'x-api-key': keyserver } });
  expect(served.status).toBe(200);
  const servedKey = Buffer.from(await served.arrayBuffer());
  expect(servedKey).toEqual(key);
  const decrypted = await decryptWithPackager(
    encrypted,
    'video',
    { label: 'VIDEO', kid, key: servedKey },
    path.join(work, 'decrypted.mp4'),
  );
  const clear = await videoFrames(source);
  expect(clear.length).toBeGreaterThan(10);
  expect(await videoFrames(decrypted)).toEqual(clear);
});
