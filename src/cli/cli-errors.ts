/**
 * Errors the command line turns into exit codes. Every message says what to do next;
 * `main.ts` is the only place that prints them and exits.
 */

/** Exit codes of every `keyplane` command (also listed in `--help` and the README). */
export const EXIT_CODES = {
  ok: 0,
  failed: 1,
  usage: 2,
  unreachable: 3,
  authRejected: 4,
} as const;

/** The exit-code table as printed at the end of `--help`. */
export const EXIT_CODES_HELP = `
Errors: a message on stderr. With --json, the error is one JSON object on stderr instead:
  {"error": "<code>", "message": "...", "exitCode": n, "status": <HTTP status, if any>, "retryAfter": <s, if any>}
  where <code> is the server's error code (e.g. lease_conflict) or usage_error, command_failed,
  unreachable, auth_rejected. stdout then stays empty.

Exit codes:
  0  success
  1  the command or a conformance check failed (the message says which)
  2  usage error: bad or missing option (IDs, KIDs, hex and URLs are checked before any request),
     unreadable file, missing credentials, no command
  3  the server could not be reached (wrong --url, server down, timeout)
  4  the server rejected the credentials (401/403): check --api-key / --sigv4 and the key's roles`;

/** Base class: an error with the exit code the process should end with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Wrong or missing options, unreadable input files (exit 2). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT_CODES.usage);
  }
}

/** The command ran but did not succeed, e.g. the server answered 4xx/5xx or a check failed (exit 1). */
export class CommandFailedError extends CliError {
  constructor(message: string) {
    super(message, EXIT_CODES.failed);
  }
}

/** No HTTP answer at all: connection refused, DNS failure, timeout (exit 3). */
export class UnreachableError extends CliError {
  constructor(url: string, cause: string) {
    super(`cannot reach ${url}: ${cause}. Check --url (or KEYPLANE_URL) and that the server is running.`, 3);
  }
}

/** The server answered 401 or 403 (exit 4). */
export class AuthRejectedError extends CliError {
  constructor(status: number, serverMessage: string) {
    const hint =
      status === 401
        ? 'Pass a valid key with --api-key (or KEYPLANE_API_KEY), or --sigv4 with AWS credentials.'
        : 'The credentials were refused for this call: a wrong SigV4 secret, or a key without the role it needs ' +
          '(encoder for SPEKE; admin for API keys, static keys and leases; token-issuer for tokens), ' +
          "or a resource or tenant that is not the key's.";
    super(
      `the server rejected the credentials (HTTP ${status}${serverMessage ? `: ${serverMessage}` : ''}). ${hint}`,
      4,
    );
  }
}

/** The server answered a non-2xx other than 401/403 (exit 1); keeps its status, code and Retry-After. */
export class ServerRefusedError extends CommandFailedError {
  constructor(
    prefix: string,
    readonly status: number,
    readonly serverCode: string | undefined,
    serverMessage: string,
    readonly retryAfter: string | undefined,
  ) {
    const wait = retryAfter === undefined ? '' : ` (Retry-After: ${retryAfter} s)`;
    super(`${prefix} HTTP ${status}: ${serverMessage}${wait}`);
  }
}

/** The machine-readable code of an error for `--json` output. */
export function errorCode(err: CliError): string {
  if (err instanceof ServerRefusedError && err.serverCode) return err.serverCode;
  const names: Record<number, string> = {
    [EXIT_CODES.usage]: 'usage_error',
    [EXIT_CODES.unreachable]: 'unreachable',
    [EXIT_CODES.authRejected]: 'auth_rejected',
  };
  return names[err.exitCode] ?? 'command_failed';
}

/** A server answer that is not what the protocol promises (bad XML, missing keys, failed MAC) (exit 1). */
export class InvalidResponseError extends CommandFailedError {}
