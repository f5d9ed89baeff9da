import { ConfigError } from '../errors';
import { withoutTrailingSlashes } from '../util/trailing-slashes';

/** The variables Keyplane reads: `process.env` at start, a plain object in tests. */
export type Env = Record<string, string | undefined>;

/** Throws a ConfigError for a variable; handed to parsers outside `config/` so they need not import it. */
type Fail = (variable: string, message: string) => never;

/** The Fail every config section uses: a ConfigError naming the variable. */
export const fail: Fail = (variable, message) => {
  throw new ConfigError(variable, message);
};

/** The process environment; the one place in `src/` that reads `process.env`. */
export function processEnv(): Env {
  return process.env;
}

/** The trimmed value, or undefined when the variable is unset or blank. */
export function optional(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** A whole number within [min, max]; two messages (not an integer / out of range). */
export function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) fail(name, `must be an integer, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) fail(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** A whole number within [min, max], with one message naming the range. */
export function boundedInteger(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) fail(name, `must be an integer from ${min} to ${max}, got "${raw}"`);
  return n;
}

/**
 * An absolute http(s) (or skd:) URL, `{placeholders}` allowed, returned without trailing slashes.
 * `fallback` is used when the variable is unset and is validated the same way.
 */
export function url(env: Env, name: string, fallback?: string): string | undefined {
  const raw = optional(env, name) ?? fallback;
  if (raw === undefined) return undefined;
  let parsedUrl: URL | undefined;
  try {
    parsedUrl = new URL(raw.replace(/\{[a-zA-Z]+\}/g, 'x'));
  } catch {
    fail(name, `must be an absolute URL, got "${raw}"`);
  }
  if (!['http:', 'https:', 'skd:'].includes(parsedUrl.protocol)) {
    fail(name, `must use http(s), got "${parsedUrl.protocol}"`);
  }
  return withoutTrailingSlashes(raw);
}

/** One of a fixed set of words. */
export function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = optional(env, name) ?? fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    fail(name, `must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

/** The value run through a parser from an inner layer; the parser's Error message becomes the ConfigError's. */
export function parsed<T>(env: Env, name: string, parse: (raw: string) => T): T | undefined {
  const raw = optional(env, name);
  if (raw === undefined) return undefined;
  try {
    return parse(raw);
  } catch (err) {
    return fail(name, (err as Error).message);
  }
}
