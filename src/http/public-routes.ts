import fs from 'node:fs';
import { EXACT_ROUTING } from './exact-routing';
import path from 'node:path';
import { Router } from 'express';
import YAML from 'yaml';
import type { Backend } from '../store/backend';
import { VERSION } from '../version';

const SPEC_CANDIDATES = [
  path.resolve(__dirname, '../../openapi/openapi.yaml'),
  path.resolve(__dirname, '../../../openapi/openapi.yaml'),
  path.resolve(process.cwd(), 'openapi/openapi.yaml'),
];

let cachedSpec: unknown;

/** Loads `openapi/openapi.yaml` once, as JSON. */
export function loadOpenApi(): unknown {
  if (cachedSpec === undefined) {
    const file = SPEC_CANDIDATES.find((f) => fs.existsSync(f));
    if (!file) throw new Error('openapi/openapi.yaml not found');
    cachedSpec = YAML.parse(fs.readFileSync(file, 'utf8'));
  }
  return cachedSpec;
}

/** Public routes: health, SPEKE v1 heartbeat and the API description. */
export function publicRoutes(store: Pick<Backend, 'name' | 'ping'>, cipherName: string): Router {
  const router = Router(EXACT_ROUTING);
  router.get('/healthz', async (_req, res) => {
    res.set('Cache-Control', 'no-store');
    try {
      await store.ping();
      res.json({ status: 'ok', version: VERSION, store: { backend: store.name, status: 'ok' }, cipher: cipherName });
    } catch {
      res
        .status(503)
        .set('Retry-After', '5')
        .json({ status: 'unavailable', version: VERSION, store: { backend: store.name, status: 'unavailable' } });
    }
  });
  router.get('/heartbeat', (_req, res) => {
    res.set('Cache-Control', 'no-store').type('text/plain').send('OK');
  });
  router.get('/openapi.json', (_req, res) => {
    res.json(loadOpenApi());
  });
  return router;
}
