import crypto from 'node:crypto';
/**
 * What the commands that work directly on a store (`migrate`, `export`, `import`) share: the config
 * from the usual KEYPLANE_* settings, and store/option errors as usage errors (exit 2).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig, processEnv, type Config } from '../config';
import { StoreSpecError } from '../compose/store-ends';
import { UsageError } from './cli-errors';

/** The configuration, a ConfigError becoming a usage error that names the variable. */
export function localConfig(): Config {
  try {
    return loadConfig(processEnv());
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(`configuration error: ${err.message}`);
    throw err;
  }
}

/** Runs `fn`, turning a StoreSpecError (bad --from/--to/cipher option) into a usage error. */
export async function withUsageErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof StoreSpecError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * A temporary name beside `file` nobody can guess, opened with `wx`: a file or symlink planted there in a
 * shared directory makes the write fail instead of being followed.
 */
function tempNameBeside(file: string): string {
  return path.join(
    path.dirname(file),
    `.${path.basename(file).slice(0, 64)}.${crypto.randomBytes(6).toString('hex')}.tmp`,
  );
}

/** Writes a file atomically (temporary file, fsync, rename) with mode 0600. */
export function writeFileAtomically(file: string, content: string | Buffer): void {
  const tmp = tempNameBeside(file);
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    try {
      fs.writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    // A half-written temporary file may hold keys: it goes.
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** `writeFileAtomically` without blocking: several files' fsyncs may then overlap. */
export async function writeFileAtomicallyAsync(file: string, content: string): Promise<void> {
  const tmp = tempNameBeside(file);
  const handle = await fs.promises.open(tmp, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Runs `fn` over `items` with at most `limit` calls in flight, results in input order: lets a store
 * batch the writes of several resources into one commit while memory stays bounded.
 */
export async function mapLimit<T, R>(
  items: AsyncIterable<T> | Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: Promise<R>[] = [];
  const running = new Set<Promise<R>>();
  try {
    for await (const item of items) {
      const p = fn(item);
      results.push(p);
      running.add(p);
      void p.then(
        () => running.delete(p),
        () => running.delete(p),
      );
      if (running.size >= limit) await Promise.race(running);
    }
    return await Promise.all(results);
  } catch (err) {
    await Promise.allSettled(results); // nothing left running when the caller closes the store
    throw err;
  }
}
