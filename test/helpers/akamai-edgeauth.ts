/**
 * Akamai's own token generator (npm `akamai-edgeauth`, a devDependency), typed for the tests: EdgeAuth
 * tokens in tests come from it, never from our verifier's code.
 */

/** The generator's options, as its README names them. */
export interface AkamaiEdgeAuthOptions {
  key: string;
  tokenName?: string;
  algorithm?: 'sha256' | 'sha1' | 'md5';
  salt?: string;
  ip?: string;
  payload?: string;
  sessionId?: string;
  startTime?: number | 'now';
  endTime?: number;
  windowSeconds?: number;
  escapeEarly?: boolean;
}

interface AkamaiEdgeAuth {
  generateACLToken(acl: string | string[]): string;
  generateURLToken(url: string): string;
}

const EdgeAuth = require('akamai-edgeauth') as new (options: AkamaiEdgeAuthOptions) => AkamaiEdgeAuth;

/** An ACL token made by Akamai's generator. */
export function akamaiAclToken(options: AkamaiEdgeAuthOptions, acl: string | string[]): string {
  return new EdgeAuth({ ...options }).generateACLToken(acl);
}

/** A URL token made by Akamai's generator. */
export function akamaiUrlToken(options: AkamaiEdgeAuthOptions, url: string): string {
  return new EdgeAuth({ ...options }).generateURLToken(url);
}
