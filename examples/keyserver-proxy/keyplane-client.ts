import { createSignedFetcher } from 'aws-sigv4-fetch';

/** How the proxy reaches Keyplane: its URL and the SigV4 access key Keyplane knows (role keyserver). */
export interface KeyplaneClientConfig {
  keyplaneUrl: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  service: string;
}

/** What Keyplane answered for a key. */
export type KeyAnswer = { kind: 'key'; key: Buffer } | { kind: 'not-found' } | { kind: 'failed'; status: number };

/** Fetches `GET /keys/{resourceId}/{kid}` from Keyplane, signed with SigV4 by `aws-sigv4-fetch`. */
export function keyplaneClient(config: KeyplaneClientConfig, baseFetch: typeof fetch = fetch) {
  const signedFetch = createSignedFetcher({
    service: config.service,
    region: config.region,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
    fetch: baseFetch,
  });
  return async (resourceId: string, kid: string): Promise<KeyAnswer> => {
    const url = `${config.keyplaneUrl}/keys/${encodeURIComponent(resourceId)}/${encodeURIComponent(kid)}`;
    const res = await signedFetch(url, { method: 'GET', signal: AbortSignal.timeout(5000) });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status === 200 && body.length === 16) return { kind: 'key', key: body };
    if (res.status === 404) return { kind: 'not-found' };
    return { kind: 'failed', status: res.status };
  };
}
