import { ServiceUnavailableError } from './errors';

/** Node's transport error codes: the request never got an HTTP answer. */
export const NETWORK_CODE =
  /^E(CONNREFUSED|CONNRESET|CONNABORTED|TIMEDOUT|HOSTUNREACH|NETUNREACH|NOTFOUND|AI_AGAIN|PIPE|PROTO)$/;
const NETWORK_CODE_IN_TEXT =
  /\bE(CONNREFUSED|CONNRESET|CONNABORTED|TIMEDOUT|HOSTUNREACH|NETUNREACH|NOTFOUND|AI_AGAIN|PIPE|PROTO)\b/;

/**
 * The AWS error name, or the Node network error code (ECONNREFUSED, ...) for transport failures,
 * shared by the KMS cipher and the DynamoDB store to decide what is a 503.
 * Under jest's VM realm the SDK wraps Node's errors into a plain Error whose message keeps the code.
 */
export function awsErrorName(err: unknown): string {
  if (typeof err !== 'object' || err === null) return 'UnknownError';
  const { name, code, message } = err as { name?: unknown; code?: unknown; message?: unknown };
  if (typeof code === 'string' && NETWORK_CODE.test(code)) return code;
  const fromMessage = typeof message === 'string' ? NETWORK_CODE_IN_TEXT.exec(message)?.[0] : undefined;
  if ((name === 'Error' || name === undefined) && fromMessage) return fromMessage;
  return typeof name === 'string' && name !== 'Error' ? name : 'UnknownError';
}

/**
 * The 503 for an AWS call that failed for a reason the client can wait out: `<service> unavailable: <name>`,
 * Retry-After 1 s when the name is one of the service's throttling errors, else 5 s. One rule for KMS and
 * DynamoDB, so both answer an outage the same way.
 */
export function awsUnavailable(
  service: string,
  err: unknown,
  throttleNames: ReadonlySet<string>,
): ServiceUnavailableError {
  const name = awsErrorName(err);
  return new ServiceUnavailableError(`${service} unavailable: ${name}`, throttleNames.has(name) ? 1 : 5, err);
}
