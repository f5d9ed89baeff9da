/**
 * The framework-neutral view of a request that credential checks read, and the shape of one
 * credential check. The HTTP edge (`src/http/authenticate.ts`) hands its request in; an Express
 * `Request` (and Node's `IncomingMessage` behind it) already has these fields, so no copy is made.
 */
import type { Principal } from './principal';

/** What a credential check may read from a request: method, target as received, headers. */
export interface CredentialSource {
  readonly method: string;
  /** The request target exactly as received: path and raw query, before percent-decoding. */
  readonly originalUrl: string;
  /** Header values by lower-case name, as Node parsed them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Header names and values as received: Node keeps only the first of repeated `Authorization` headers. */
  readonly rawHeaders?: readonly string[];
  /** `http` or `https`, as the server sees the request (after any trusted proxy). */
  readonly protocol: string;
}

/** The value of one header (lower-case `name`); repeated values joined with `,`. */
export function headerOf(req: Pick<CredentialSource, 'headers'>, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * One way of recognising a caller (API key, API Gateway IAM identity, SigV4, playback token).
 * Resolves to undefined when the request carries no credential of its kind; throws when it carries
 * a bad one. `R` is what the check reads: a CredentialSource unless it needs more (IAM: the request object).
 */
export type Authenticator<R = CredentialSource> = (req: R) => Promise<Principal | undefined>;
