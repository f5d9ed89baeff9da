import path from 'node:path';
import { fail, oneOf, optional, type Env } from './env';

/** Which key store backs Keyplane and where it lives (`KEYPLANE_STORE`, `_TABLE`, `_DATA_DIR`). */
export interface StoreConfig {
  store: 'sqlite' | 'dynamodb';
  table?: string;
  /** SQLite database, master key and token keys; resolved to an absolute path. */
  dataDir: string;
}

/** Reads the store variables; a DynamoDB store needs its table. */
export function loadStoreConfig(env: Env): StoreConfig {
  const store = oneOf(env, 'KEYPLANE_STORE', ['sqlite', 'dynamodb'] as const, 'sqlite');
  const table = optional(env, 'KEYPLANE_TABLE');
  if (store === 'dynamodb' && table === undefined) fail('KEYPLANE_TABLE', 'is required when KEYPLANE_STORE=dynamodb');
  return { store, table, dataDir: path.resolve(optional(env, 'KEYPLANE_DATA_DIR') ?? './data') };
}
