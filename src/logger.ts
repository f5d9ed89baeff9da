import pino, { type Logger } from 'pino';

/** The structured logger. Credentials are redacted; key material is never passed to it. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'keyplane' },
    redact: {
      paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization', 'headers["x-api-key"]'],
      censor: '[redacted]',
    },
  });
}

export type { Logger };
