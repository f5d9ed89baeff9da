import crypto from 'node:crypto';
import { startPostgres, type PostgresServer } from '../test/helpers/postgres';
import type { Scenario } from './scenarios';

let server: Promise<PostgresServer> | undefined;

/**
 * The PostgreSQL the postgres scenarios run against: one throwaway server (Debian's packages, see
 * test/helpers/postgres.ts) on this machine, started by the first such scenario with PostgreSQL's default
 * durability (fsync, synchronous_commit on: a commit is on disk before Keyplane answers, as SQLite's
 * synchronous=FULL), stopped and deleted when the bench exits; a fresh database per scenario.
 */
async function freshDatabase(): Promise<Record<string, string>> {
  server ??= startPostgres().then((pg) => {
    process.once('exit', () => pg.destroy());
    return pg;
  });
  const url = await (await server).createDatabase(`bench_${crypto.randomBytes(4).toString('hex')}`);
  return { KEYPLANE_STORE: 'postgres', KEYPLANE_DATABASE_URL: url };
}

/** `base` (a SQLite scenario) run against PostgreSQL instead: same load, `-pg` appended to its name. */
export function onPostgres(base: Scenario): Scenario {
  return {
    ...base,
    name: `${base.name}-pg`,
    title: `${base.title} — PostgreSQL store`,
    serverSetup: freshDatabase,
  };
}
