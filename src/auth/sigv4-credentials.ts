import fs from 'node:fs';
import { ServiceUnavailableError } from '../errors';
import { readSecretFile } from '../util/secret-file';
import { ALL_TENANTS, DEFAULT_TENANT, isTenantId } from '../domain/tenants';
import { isRole, type Role } from './principal';

/** One SigV4 caller: an access key pair, the roles it acts in and the tenant it belongs to. */
export interface SigV4Credential {
  accessKeyId: string;
  secretAccessKey: string;
  roles: Role[];
  /** A tenant ID, or `*` for all tenants; `default` when the entry names none. */
  tenant: string;
}

/** Where the SigV4 authenticator looks access keys up; read on every request so revocation is immediate. */
export interface SigV4CredentialSource {
  lookup(accessKeyId: string): SigV4Credential | undefined;
}

const ACCESS_KEY_ID = /^[A-Za-z0-9_-]{4,128}$/;
const MIN_SECRET_LENGTH = 16;

const isRoleList = (field: string | undefined): boolean =>
  field !== undefined && field.split('+').every((r) => isRole(r.trim()));

/**
 * Splits `accessKeyId:secret:roles[:tenant]` (the secret may hold `:`). A last field that is a role list
 * keeps its meaning from before tenants (no tenant); one that is not is the tenant when the field before
 * it is a role list. Both being role lists (a tenant named like a role, or a secret ending in `:<role>`)
 * is refused rather than guessed.
 */
function splitEntry(parts: string[], where: string): { fields: string[]; tenant: string } {
  const last = parts[parts.length - 1] as string;
  const beforeLast = parts[parts.length - 2];
  if (parts.length >= 4 && isRoleList(beforeLast)) {
    if (isRoleList(last)) {
      throw new Error(
        `${where}: ambiguous: the last two fields are both role lists; a tenant cannot be named like a role`,
      );
    }
    if (last !== ALL_TENANTS && !isTenantId(last)) {
      throw new Error(`${where}: tenant must be 1-63 of a-z 0-9 _ -, starting with a letter or digit, or *`);
    }
    return { fields: parts.slice(0, -1), tenant: last };
  }
  return { fields: parts, tenant: DEFAULT_TENANT };
}

function parseEntry(entry: string, where: string): SigV4Credential {
  const all = entry.split(':');
  if (all.length < 3) throw new Error(`${where}: expected accessKeyId:secretAccessKey:role1+role2[:tenant]`);
  const { fields: parts, tenant } = splitEntry(all, where);
  const accessKeyId = parts[0] as string;
  const roles = (parts[parts.length - 1] as string).split('+').map((r) => r.trim());
  const secretAccessKey = parts.slice(1, -1).join(':');
  if (!ACCESS_KEY_ID.test(accessKeyId)) throw new Error(`${where}: access key id must be 4-128 of A-Z a-z 0-9 _ -`);
  if (secretAccessKey.length < MIN_SECRET_LENGTH) {
    throw new Error(`${where}: secret access key must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  const unknown = roles.find((r) => !isRole(r));
  if (unknown !== undefined) {
    // Quoted only when it cannot be a secret (shorter than any accepted one): fields may be in the wrong order.
    const shown = unknown.length < MIN_SECRET_LENGTH ? ` "${unknown}"` : '';
    throw new Error(`${where}: unknown role${shown} (admin, encoder, keyserver, token-issuer)`);
  }
  return { accessKeyId, secretAccessKey, roles: [...new Set(roles as Role[])], tenant };
}

/**
 * Parses credential entries `accessKeyId:secretAccessKey:role1+role2[:tenant]`: comma-separated (environment)
 * or one per line (file; blank lines and `#` comments skipped). Errors name the entry, never the secret.
 */
export function parseSigV4Credentials(text: string, perLine = false): SigV4Credential[] {
  const entries = text.split(perLine ? /\r?\n/ : ',').map((e) => e.trim());
  const out = new Map<string, SigV4Credential>();
  entries.forEach((entry, i) => {
    if (entry === '' || (perLine && entry.startsWith('#'))) return;
    const credential = parseEntry(entry, perLine ? `line ${i + 1}` : `entry ${i + 1}`);
    if (out.has(credential.accessKeyId)) throw new Error(`access key id "${credential.accessKeyId}" appears twice`);
    out.set(credential.accessKeyId, credential);
  });
  if (out.size === 0 && !perLine) throw new Error('holds no credentials');
  return [...out.values()];
}

/** Credentials fixed at start (`KEYPLANE_SIGV4_CREDENTIALS`). */
export function staticCredentials(list: SigV4Credential[]): SigV4CredentialSource {
  const byId = new Map(list.map((c) => [c.accessKeyId, c]));
  return { lookup: (id) => byId.get(id) };
}

/**
 * Credentials from a file (`KEYPLANE_SIGV4_CREDENTIALS_FILE`), re-read whenever the file changes
 * (inode, size, mtime or ctime), so deleting a line revokes that key on the next request.
 * A missing file means no credentials; an unreadable or invalid one, or one group/others can read
 * (it holds secrets: chmod 600), refuses to start and answers 503 until fixed.
 */
export class FileCredentialSource implements SigV4CredentialSource {
  private version = '';
  private byId = new Map<string, SigV4Credential>();
  private error: string | undefined;

  constructor(private readonly file: string) {
    if (!fs.existsSync(file)) throw new Error(`${file} does not exist`);
    this.refresh();
    if (this.error !== undefined) throw new Error(this.error);
  }

  lookup(accessKeyId: string): SigV4Credential | undefined {
    this.refresh();
    if (this.error !== undefined) {
      throw new ServiceUnavailableError(`SigV4 credentials file is invalid: ${this.error}`);
    }
    return this.byId.get(accessKeyId);
  }

  private refresh(): void {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(this.file);
    } catch {
      this.version = 'missing';
      this.byId = new Map();
      this.error = undefined;
      return;
    }
    const version = `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
    if (version === this.version) return;
    try {
      const list = parseSigV4Credentials(readSecretFile(this.file), true);
      this.byId = new Map(list.map((c) => [c.accessKeyId, c]));
      this.error = undefined;
    } catch (err) {
      this.byId = new Map();
      this.error = `${this.file}: ${(err as Error).message}`;
    }
    this.version = version;
  }
}
