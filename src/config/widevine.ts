import crypto from 'node:crypto';
import fs from 'node:fs';
import { DEFAULT_TENANT, isTenantId } from '../domain/tenants';
import type { WidevineSigner } from '../widevine/request-signers';
import { fail, optional, type Env } from './env';

/** The Widevine Common Encryption API's signers and KID secret (`KEYPLANE_WIDEVINE_*`); absent: API off. */
export interface WidevineConfig {
  signers: WidevineSigner[];
  /** Keys the KID derivation: must never change once content was packaged (its KIDs would change). */
  kidSecret: Buffer;
}

const SIGNER_NAME = /^[A-Za-z0-9][\w.@-]{0,63}$/;
const AES = 'KEYPLANE_WIDEVINE_SIGNERS';
const RSA = 'KEYPLANE_WIDEVINE_RSA_SIGNERS';
const SECRET = 'KEYPLANE_WIDEVINE_KID_SECRET';

function entries(env: Env, name: string): string[][] {
  const raw = optional(env, name);
  if (raw === undefined) return [];
  return raw.split(',').map((item) => item.trim().split(':'));
}

function nameAndTenant(variable: string, name: string | undefined, tenant: string | undefined) {
  if (!name || !SIGNER_NAME.test(name))
    fail(variable, `signer name "${name ?? ''}" must be 1-64 of A-Z a-z 0-9 _ . @ -`);
  const t = tenant ?? DEFAULT_TENANT;
  if (!isTenantId(t)) fail(variable, `tenant "${t}" of signer ${name} must be 1-63 of a-z 0-9 _ -`);
  return { name, tenant: t };
}

function aesSigners(env: Env): WidevineSigner[] {
  return entries(env, AES).map((parts) => {
    if (parts.length < 3 || parts.length > 4) fail(AES, 'each entry is name:aesKeyHex:aesIvHex[:tenant]');
    const [name, keyHex = '', ivHex = '', tenant] = parts;
    const who = nameAndTenant(AES, name, tenant);
    if (!/^[0-9a-fA-F]{64}$/.test(keyHex))
      fail(AES, `the AES key of signer ${who.name} must be 64 hex digits (32 bytes)`);
    if (!/^[0-9a-fA-F]{32}$/.test(ivHex))
      fail(AES, `the AES IV of signer ${who.name} must be 32 hex digits (16 bytes)`);
    return { ...who, kind: 'aes' as const, key: Buffer.from(keyHex, 'hex'), iv: Buffer.from(ivHex, 'hex') };
  });
}

/** A public key in PEM, or in DER as SPKI or PKCS#1 (what `openssl rsa -pubout -outform DER` gives, or RSAPublicKey). */
function readPublicKey(bytes: Buffer): crypto.KeyObject {
  if (bytes.includes('-----BEGIN')) return crypto.createPublicKey(bytes);
  try {
    return crypto.createPublicKey({ key: bytes, format: 'der', type: 'spki' });
  } catch {
    return crypto.createPublicKey({ key: bytes, format: 'der', type: 'pkcs1' });
  }
}

function rsaSigners(env: Env): WidevineSigner[] {
  return entries(env, RSA).map((parts) => {
    if (parts.length < 2 || parts.length > 3) fail(RSA, 'each entry is name:/path/to/public.pem[:tenant]');
    const [name, file = '', tenant] = parts;
    const who = nameAndTenant(RSA, name, tenant);
    let publicKey: crypto.KeyObject;
    try {
      publicKey = readPublicKey(fs.readFileSync(file));
    } catch (err) {
      return fail(
        RSA,
        `cannot read an RSA public key (PEM or DER) for signer ${who.name} from ${file}: ${(err as Error).message}`,
      );
    }
    if (publicKey.asymmetricKeyType !== 'rsa') fail(RSA, `the key of signer ${who.name} is not an RSA key`);
    // The signature is the credential that unlocks the signer's keys: a key one could factor is no credential.
    const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) fail(RSA, `the key of signer ${who.name} has ${bits} bits; at least 2048 are needed`);
    return { ...who, kind: 'rsa' as const, publicKey };
  });
}

/** Reads the signers and the KID secret; undefined when no signer is configured (the route is off). */
export function loadWidevineConfig(env: Env): WidevineConfig | undefined {
  const signers = [...aesSigners(env), ...rsaSigners(env)];
  const names = new Set<string>();
  for (const s of signers) {
    if (names.has(s.name)) fail(s.kind === 'aes' ? AES : RSA, `signer ${s.name} is configured twice`);
    names.add(s.name);
  }
  const secretHex = optional(env, SECRET);
  if (signers.length === 0) {
    if (secretHex !== undefined) fail(SECRET, `is set but no signer is: set ${AES} or ${RSA}`);
    return undefined;
  }
  if (secretHex === undefined || !/^([0-9a-fA-F]{2}){32,}$/.test(secretHex)) {
    fail(
      SECRET,
      'must be at least 64 hex digits (32 random bytes) when Widevine API signers are configured; never change it',
    );
  }
  return { signers, kidSecret: Buffer.from(secretHex, 'hex') };
}

/** The signers by name and tenant, for the start-up summary (no key material). */
export function describeWidevine(config: WidevineConfig | undefined): string | string[] {
  return config ? config.signers.map((s) => `${s.name} (${s.kind}, tenant ${s.tenant})`) : 'off';
}
