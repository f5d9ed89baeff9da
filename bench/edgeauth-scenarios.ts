/**
 * Key delivery to players by credential transport: a playback token as Bearer (the reference), the same
 * token in the KEYPLANE_TOKEN_COOKIE cookie, and an Akamai EdgeAuth token (made by akamai-edgeauth) in
 * `?__token__=`: what each transport costs per `GET /keys` on one process.
 */
import crypto from 'node:crypto';
import type { Scenario, ScenarioContext } from './scenarios';

const EDGE_KEY = crypto.randomBytes(16).toString('hex');
const RESOURCE = 'bench-player-movie';

interface EdgeAuthGenerator {
  generateACLToken(acl: string): string;
}
const EdgeAuth = require('akamai-edgeauth') as new (options: object) => EdgeAuthGenerator;

/** Creates the resource's static key (admin) and returns its key path. */
async function staticKeyPath(ctx: ScenarioContext): Promise<string> {
  const res = await fetch(`${ctx.baseUrl}/static-keys`, {
    method: 'POST',
    headers: { 'x-api-key': ctx.adminKey, 'content-type': 'application/json' },
    body: JSON.stringify({ resourceId: RESOURCE }),
  });
  if (res.status !== 201) throw new Error(`POST /static-keys answered ${res.status}: ${await res.text()}`);
  return `/keys/${RESOURCE}/${((await res.json()) as { kid: string }).kid}`;
}

async function playbackToken(ctx: ScenarioContext): Promise<string> {
  const res = await fetch(`${ctx.baseUrl}/playback-tokens`, {
    method: 'POST',
    headers: { 'x-api-key': ctx.adminKey, 'content-type': 'application/json' },
    body: JSON.stringify({ resourceId: RESOURCE, ttlSeconds: 3600 }),
  });
  if (res.status !== 201) throw new Error(`POST /playback-tokens answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/**
 * The three player-transport scenarios (`BENCH_ONLY=key-get-token-bearer,key-get-token-cookie,key-get-edgeauth`),
 * and what a player's session starts with: minting its token (`token-mint`; one audit record each).
 */
export const PLAYER_TRANSPORT_SCENARIOS: Scenario[] = [
  {
    name: 'token-mint',
    title: 'Playback token minting: POST /playback-tokens (token-issuer key), audited',
    target: 'keyplane',
    prepare: async (ctx) => {
      await staticKeyPath(ctx);
      const issuer = await ctx.apiKey(['token-issuer']);
      return {
        method: 'POST',
        path: '/playback-tokens',
        headers: { 'x-api-key': issuer, 'content-type': 'application/json' },
        body: JSON.stringify({ resourceId: RESOURCE, ttlSeconds: 300 }),
      };
    },
  },
  {
    name: 'key-get-token-bearer',
    title: 'Key delivery to a player: GET /keys, playback token as Bearer',
    target: 'keyplane',
    prepare: async (ctx) => {
      const path = await staticKeyPath(ctx);
      return { method: 'GET', path, headers: { authorization: `Bearer ${await playbackToken(ctx)}` } };
    },
  },
  {
    name: 'key-get-token-cookie',
    title: 'Key delivery to a player: GET /keys, playback token in the keyplane_token cookie',
    target: 'keyplane',
    prepare: async (ctx) => {
      const path = await staticKeyPath(ctx);
      return { method: 'GET', path, headers: { cookie: `lang=en; keyplane_token=${await playbackToken(ctx)}` } };
    },
  },
  {
    name: 'key-get-edgeauth',
    title: 'Key delivery to a player: GET /keys, EdgeAuth token (HMAC-SHA256, akamai-edgeauth) in ?__token__=',
    target: 'keyplane',
    serverEnv: { KEYPLANE_EDGEAUTH_KEY: EDGE_KEY },
    prepare: async (ctx) => {
      const path = await staticKeyPath(ctx);
      const token = new EdgeAuth({ key: EDGE_KEY, windowSeconds: 3600 }).generateACLToken(`/keys/${RESOURCE}/*`);
      return { method: 'GET', path: `${path}?__token__=${token}` };
    },
  },
];
