/**
 * A reference keyserver proxy: the customer's side of the Gcore-style AES-128 flow. The player asks this
 * server for the key; it checks its own session cookie, fetches the key from Keyplane with SigV4
 * (`aws-sigv4-fetch`) and answers the 16 raw bytes as `application/octet-stream`, `binary`.
 */
import express, { type Express, type Request, type Response } from 'express';
import path from 'node:path';
import { keyplaneClient, type KeyAnswer, type KeyplaneClientConfig } from './keyplane-client';
import { cookieValue, SESSION_COOKIE, signSession, verifySession } from './session';

/** Everything the proxy reads from its environment. */
export interface ProxyConfig extends KeyplaneClientConfig {
  port: number;
  /** Signs session cookies (at least 16 characters). */
  sessionSecret: string;
  /** The demo's login password (a real site checks its own users). */
  demoPassword: string;
  sessionTtlSeconds: number;
  /** A folder served as static files (the demo player page), if set. */
  publicDir?: string;
  /** Set the cookie's `Secure` flag (on for anything but local http demos). */
  secureCookie: boolean;
}

const RESOURCE_ID = /^[A-Za-z0-9][A-Za-z0-9._~:@+=-]{0,255}$/;
const KID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function required(env: NodeJS.ProcessEnv, name: string, minLength = 1): string {
  const value = env[name]?.trim() ?? '';
  if (value.length < minLength) throw new Error(`${name} is required (at least ${minLength} characters)`);
  return value;
}

/** Reads the proxy's configuration; throws naming the variable. */
export function loadProxyConfig(env: NodeJS.ProcessEnv = process.env): ProxyConfig {
  return {
    port: Number(env.PORT ?? 3000),
    keyplaneUrl: required(env, 'KEYPLANE_URL').replace(/\/+$/, ''),
    accessKeyId: required(env, 'KEYPLANE_ACCESS_KEY_ID'),
    secretAccessKey: required(env, 'KEYPLANE_SECRET_ACCESS_KEY', 16),
    region: env.KEYPLANE_SIGV4_REGION ?? 'us-east-1',
    service: env.KEYPLANE_SIGV4_SERVICE ?? 'execute-api',
    sessionSecret: required(env, 'SESSION_SECRET', 16),
    demoPassword: required(env, 'DEMO_PASSWORD', 8),
    sessionTtlSeconds: Number(env.SESSION_TTL_SECONDS ?? 3600),
    publicDir: env.PUBLIC_DIR ? path.resolve(env.PUBLIC_DIR) : undefined,
    secureCookie: env.COOKIE_SECURE !== 'false',
  };
}

function sendKey(res: Response, key: Buffer): void {
  res.set({
    'Content-Type': 'application/octet-stream',
    'Content-Transfer-Encoding': 'binary',
    'Cache-Control': 'no-store',
    'Content-Length': String(key.length),
  });
  res.status(200).end(key);
}

function answer(res: Response, result: KeyAnswer): void {
  if (result.kind === 'key') return sendKey(res, result.key);
  res.set('Cache-Control', 'no-store');
  if (result.kind === 'not-found') return void res.status(404).json({ error: 'not_found' });
  console.error(`keyserver-proxy: Keyplane answered ${result.status}`);
  res.status(502).json({ error: 'keyplane_unavailable' });
}

function login(config: ProxyConfig) {
  return (req: Request, res: Response): void => {
    const { user, password } = (req.body ?? {}) as { user?: unknown; password?: unknown };
    if (typeof user !== 'string' || password !== config.demoPassword) {
      return void res.status(401).json({ error: 'bad_credentials' });
    }
    const expires = Math.floor(Date.now() / 1000) + config.sessionTtlSeconds;
    const value = signSession(config.sessionSecret, user, expires);
    res.cookie(SESSION_COOKIE, value, {
      httpOnly: true,
      sameSite: 'lax',
      secure: config.secureCookie,
      path: '/',
      maxAge: config.sessionTtlSeconds * 1000,
    });
    res.status(204).end();
  };
}

/**
 * The proxy app: `POST /login` (demo: any user name with DEMO_PASSWORD) sets a signed session cookie;
 * `GET /keys/{resourceId}/{kid}` needs that cookie (else 403), then relays Keyplane's key.
 * Decide here which user may watch which resource; the demo lets every signed-in user watch everything.
 */
export function createProxyApp(config: ProxyConfig, baseFetch: typeof fetch = fetch): Express {
  const app = express();
  const getKey = keyplaneClient(config, baseFetch);
  app.disable('x-powered-by');
  app.post(
    '/login',
    express.json({ limit: '1kb' }),
    express.urlencoded({ extended: false, limit: '1kb' }),
    login(config),
  );
  app.post('/logout', (_req, res) => void res.clearCookie(SESSION_COOKIE, { path: '/' }).status(204).end());
  app.get('/keys/:resourceId/:kid', async (req, res) => {
    res.set('Cache-Control', 'no-store');
    const user = verifySession(config.sessionSecret, cookieValue(req.get('cookie'), SESSION_COOKIE));
    if (!user) return void res.status(403).json({ error: 'no_session' });
    const { resourceId, kid } = req.params;
    if (!RESOURCE_ID.test(resourceId) || !KID.test(kid)) return void res.status(400).json({ error: 'bad_request' });
    try {
      answer(res, await getKey(resourceId, kid));
    } catch {
      answer(res, { kind: 'failed', status: 0 });
    }
  });
  if (config.publicDir) app.use(express.static(config.publicDir));
  return app;
}

if (require.main === module) {
  const config = loadProxyConfig();
  createProxyApp(config).listen(config.port, () => console.log(`keyserver-proxy listening on :${config.port}`));
}
