import { KeyplaneError, type ServiceUnavailableError } from '../errors';

/**
 * A backend's reading of a failure: ServiceUnavailableError when it means "cannot serve now" (busy,
 * throttled, unreachable, disk full), so clients retry; undefined when it is our bug and must propagate.
 */
export type OutageClassifier = (err: unknown) => ServiceUnavailableError | undefined;

function rethrown(err: unknown, classify: OutageClassifier): unknown {
  if (err instanceof KeyplaneError) return err;
  return classify(err) ?? err;
}

/** One async function whose failures pass through `classify` (Keyplane errors and races pass unchanged). */
export function mapOutage<A extends unknown[], R>(
  fn: (...args: A) => Promise<R>,
  classify: OutageClassifier,
): (...args: A) => Promise<R> {
  return async (...args: A): Promise<R> => {
    try {
      return await fn(...args);
    } catch (err) {
      throw rethrown(err, classify);
    }
  };
}

/** The names of an object's methods: its own function properties and those of its classes. */
function methodNames(target: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = target; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name !== 'constructor' && typeof (target as Record<string, unknown>)[name] === 'function') names.add(name);
    }
  }
  return [...names];
}

/**
 * A repository whose every method maps outages through `classify`: the one place a backend's failures
 * become ServiceUnavailableError, so repositories themselves never catch for it. Returns a plain object
 * with the same methods (private helpers of a class are wrapped too, harmlessly).
 */
export function mapOutages<T extends object>(repository: T, classify: OutageClassifier): T {
  const mapped: Record<string, unknown> = {};
  for (const name of methodNames(repository)) {
    const method = (repository as Record<string, (...args: unknown[]) => Promise<unknown>>)[name];
    if (method) mapped[name] = mapOutage(method.bind(repository), classify);
  }
  return mapped as T;
}
