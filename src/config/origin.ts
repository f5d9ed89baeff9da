import { checkOriginTemplate, type OriginConfig } from '../hls/origin';
import { boundedInteger, parsed, type Env } from './env';

/** Reads `KEYPLANE_ORIGIN_URL` (+ `_TIMEOUT_MS`, `_MAX_BYTES`); undefined when no origin is configured. */
export function loadOriginConfig(env: Env): OriginConfig | undefined {
  const urlTemplate = parsed(env, 'KEYPLANE_ORIGIN_URL', checkOriginTemplate);
  if (urlTemplate === undefined) return undefined;
  return {
    urlTemplate,
    timeoutMs: boundedInteger(env, 'KEYPLANE_ORIGIN_TIMEOUT_MS', 5000, 100, 60_000),
    maxBytes: boundedInteger(env, 'KEYPLANE_ORIGIN_MAX_BYTES', 1024 * 1024, 1024, 16 * 1024 * 1024),
  };
}
