/**
 * What `package-hls` does with the resource ID's lease when packaging fails after the key was
 * issued: it releases it (DELETE /leases/{resourceId}) with the command's own credential, which the
 * encoder key holding the lease may do, as may an admin key. If that fails (the server unreachable,
 * or a Keyplane from before encoders could release their leases), the lease stays until it expires,
 * which is harmless because the same caller may always repeat its request with the same KID. The
 * error message says which happened and how to go on.
 */
import type { Command } from 'commander';
import { CliError, CommandFailedError } from './cli-errors';
import { clientFrom } from './client-options';

async function tryRelease(cmd: Command, resourceId: string, kid: string): Promise<string> {
  const retry = `rerun with --kid ${kid} to package again with the same key`;
  try {
    const result = await clientFrom(cmd).send('DELETE', `/leases/${encodeURIComponent(resourceId)}`);
    if (result.status === 204) return `The lease on "${resourceId}" was released (the key stays); ${retry}.`;
    if (result.status === 404) return `No lease on "${resourceId}" is left; ${retry}.`;
    throw new Error(`HTTP ${result.status}`);
  } catch {
    return (
      `The lease on "${resourceId}" stays until it expires (it could not be released; an admin key frees it: ` +
      `keyplane lease release ${resourceId}); meanwhile ${retry}.`
    );
  }
}

/** The packaging error with a line saying what became of the lease; same exit code. */
export async function withLeaseReleased(cmd: Command, resourceId: string, kid: string, err: unknown): Promise<Error> {
  const line = await tryRelease(cmd, resourceId, kid);
  const message = `${(err as Error).message}\n${line}`;
  return err instanceof CliError ? new CliError(message, err.exitCode) : new CommandFailedError(message);
}
