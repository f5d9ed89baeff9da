import crypto from 'node:crypto';
import { signedBody } from '../../../src/cli/widevine-client';
import { createDrmRegistry } from '../../../src/drm/registry';
import { ConflictError, ResourceTakenError, ServiceUnavailableError, StaticResourceError } from '../../../src/errors';
import type { KeyService } from '../../../src/keys/key-service';
import { WidevineCencService } from '../../../src/widevine/cenc-service';
import { WidevineStatusError } from '../../../src/widevine/cenc-status';
import { WidevineSigners } from '../../../src/widevine/request-signers';

const SIGNER = { name: 's', key: crypto.randomBytes(32), iv: crypto.randomBytes(16) };
const drm = createDrmRegistry({
  fairplayUriTemplate: 'skd://{kid}',
  widevineProvider: 'keyplane',
  clearkeyLicenseUrl: 'http://x/clearkey/license',
});

/** A KeyService double whose issueWith fails with `err` (the store and lease are out of this unit). */
function serviceFailingWith(err: Error): WidevineCencService {
  const keys = { issueWith: () => Promise.reject(err) } as unknown as KeyService;
  return new WidevineCencService(
    keys,
    drm,
    new WidevineSigners([{ ...SIGNER, tenant: 't', kind: 'aes' }]),
    Buffer.alloc(32),
  );
}

async function statusOf(err: Error): Promise<string> {
  const service = serviceFailingWith(err);
  const body = signedBody({ content_id: Buffer.from('m').toString('base64'), tracks: [{ type: 'SD' }] }, SIGNER);
  const { signer, message } = service.authenticate(body);
  try {
    await service.issue(signer, message);
    return 'issued';
  } catch (e) {
    if (e instanceof WidevineStatusError) return `${e.status}: ${e.message}`;
    throw e;
  }
}

describe('WidevineCencService: KeyService refusals become the API’s statuses', () => {
  it.each([
    [new ResourceTakenError('m'), /^ACCESS_DENIED: .*m/],
    [new StaticResourceError('m'), /^ACCESS_DENIED/],
    [new ConflictError('KID x is already bound to a different resource ID'), /^ACCESS_DENIED: KID x/],
    [new ServiceUnavailableError('store down'), /^INTERNAL_ERROR: The key store is unavailable; retry$/],
  ])('%p → %p', async (err, expected) => {
    expect(await statusOf(err)).toMatch(expected);
  });

  it('anything else is a bug and is not dressed up as a status', async () => {
    await expect(statusOf(new TypeError('boom'))).rejects.toThrow('boom');
  });
});
