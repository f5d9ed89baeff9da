import { KeyplaneError, type ServiceUnavailableError } from '../errors';
import type { Backend } from './backend';

/**
 * A backend's reading of a failure: ServiceUnavailableError when it means "cannot serve now" (busy,
 * throttled, unreachable, disk full), so clients retry; undefined when it is our bug and must propagate.
 */
export type OutageClassifier = (err: unknown) => ServiceUnavailableError | undefined;

type RepositoryName =
  'keys' | 'leases' | 'staticKeys' | 'apiKeys' | 'audit' | 'policies' | 'revocations' | 'resources' | 'tenants';
type MethodList<T> = readonly (keyof T & string)[];
/** `list` when it names every method of T, else a type error at the table below. */
type Every<T, L extends MethodList<T>> = Exclude<keyof T, L[number]> extends never ? L : never;
const every =
  <T>() =>
  <const L extends MethodList<T>>(list: Every<T, L>): L =>
    list;

/** The methods of each repository of a Backend (the compiler checks each list is complete). */
const METHODS: { [K in RepositoryName]: MethodList<Backend[K]> } = {
  keys: every<Backend['keys']>()(['get']),
  leases: every<Backend['leases']>()(['get', 'commitIssue', 'delete']),
  staticKeys: every<Backend['staticKeys']>()(['get', 'put']),
  apiKeys: every<Backend['apiKeys']>()(['put', 'get', 'list', 'revoke']),
  audit: every<Backend['audit']>()(['append', 'query']),
  policies: every<Backend['policies']>()(['get', 'put', 'delete']),
  revocations: every<Backend['revocations']>()(['put', 'get']),
  resources: every<Backend['resources']>()(['get']),
  tenants: every<Backend['tenants']>()(['list']),
};

/** The methods of the optional bulk-transfer repository (`keysOfScansAll` is a flag, copied as is). */
const TRANSFER_METHODS = every<Omit<NonNullable<Backend['transfer']>, 'keysOfScansAll'>>()([
  'scan',
  'find',
  'insert',
  'keysOf',
]);

/** One async function whose failures pass through `classify` (Keyplane errors and races pass unchanged). */
function mapOutage<A extends unknown[], R>(
  fn: (...args: A) => Promise<R>,
  classify: OutageClassifier,
): (...args: A) => Promise<R> {
  return async (...args: A): Promise<R> => {
    try {
      return await fn(...args);
    } catch (err) {
      throw err instanceof KeyplaneError ? err : (classify(err) ?? err);
    }
  };
}

function mapRepository<T extends object>(repository: T, methods: MethodList<T>, classify: OutageClassifier): T {
  const mapped: Partial<Record<string, unknown>> = {};
  for (const name of methods) {
    const method = repository[name] as (...args: unknown[]) => Promise<unknown>;
    mapped[name] = mapOutage(method.bind(repository), classify);
  }
  return mapped as T;
}

/**
 * The backend with every repository method and `ping` mapping outages through `classify`: the one place
 * a backend's failures become ServiceUnavailableError, so repositories themselves never catch for it.
 * Anything else the backend has (`close`, extras such as SQLite's `pruneExpiredAudit`) is kept as is.
 */
export function mapBackendOutages<B extends Backend>(backend: B, classify: OutageClassifier): B {
  const mapped: B = { ...backend, ping: mapOutage(() => backend.ping(), classify) };
  for (const name of Object.keys(METHODS) as RepositoryName[]) {
    Object.assign(mapped, {
      [name]: mapRepository<object>(backend[name], METHODS[name] as MethodList<object>, classify),
    });
  }
  if (backend.transfer) {
    // Optional (a backend may not have it yet): its methods map outages like every repository's.
    const { keysOfScansAll } = backend.transfer;
    const wrapped = mapRepository<object>(
      backend.transfer,
      TRANSFER_METHODS as unknown as MethodList<object>,
      classify,
    );
    Object.assign(mapped, { transfer: { ...wrapped, keysOfScansAll } });
  }
  return mapped;
}
