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

/** Writes a file atomically (temporary file, fsync, rename) with mode 0600. */
export function writeFileAtomically(file: string, content: string | Buffer): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
