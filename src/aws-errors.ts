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
