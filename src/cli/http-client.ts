/**
 * The one HTTP client every command uses: plain fetch with an API key, or fetch signed with
 * SigV4 (aws-sigv4-fetch, standard AWS credential chain). Failures become CLI errors with
 * exit codes: no answer → 3, 401/403 → 4, other non-2xx → 1.
 */
import { createSignedFetcher } from 'aws-sigv4-fetch';
import { VERSION } from '../version';
import { AuthRejectedError, CommandFailedError, ServerRefusedError, UnreachableError, UsageError } from './cli-errors';

/** The error for a refused call: status, the server's code and message, and Retry-After. */
export function refusal(prefix: string, result: HttpResult): ServerRefusedError {
  let code: string | undefined;
  try {
    const parsed = JSON.parse(result.text) as { error?: unknown };
    if (typeof parsed.error === 'string') code = parsed.error;
  } catch {
    // not JSON
  }
  return new ServerRefusedError(
    prefix,
    result.status,
    code,
    serverMessage(result),
    result.headers.get('retry-after') ?? undefined,
  );
}

/** How to sign calls with SigV4. */
interface SigV4Settings {
  region: string;
  service: string;
}

/** Where the server is and how to authenticate to it. */
interface ClientSettings {
  /** Base URL of the server, no trailing slash. */
  baseUrl: string;
  apiKey?: string;
  sigv4?: SigV4Settings;
  timeoutMs: number;
}

/** One HTTP exchange, whatever its status. */
export interface HttpResult {
  status: number;
  headers: Headers;
  body: Buffer;
  text: string;
}

/** A request: body as text or bytes, extra headers. */
export interface HttpRequest {
  body?: string;
  headers?: Record<string, string>;
}

/** The `User-Agent` (and `X-Speke-User-Agent`) the CLI sends. */
export const CLI_USER_AGENT = `Keyplane-CLI/${VERSION}`;

/** The server's own explanation of a non-2xx answer: JSON `message`, else the start of the body. */
export function serverMessage(result: HttpResult): string {
  try {
    const parsed = JSON.parse(result.text) as { message?: unknown; error?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON
  }
  return result.text.replace(/\s+/g, ' ').trim().slice(0, 300);
}

function describeNetworkError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer before the timeout (--timeout)';
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

function isCredentialError(err: unknown): boolean {
  return /credential/i.test((err as Error).message ?? '') && !(err instanceof TypeError);
}

/**
 * Every CLI request is sent with `redirect: 'manual'`: a 3xx fails the command, naming the Location,
 * since following it would carry the credential (or the signed request) there.
 */
export function refuseRedirect(url: string, res: Response): void {
  if (res.status < 300 || res.status > 399) return;
  const to = (res.headers.get('location') ?? 'nowhere').slice(0, 300);
  throw new CommandFailedError(
    `${url} answered HTTP ${res.status}, a redirect to ${to}: not followed, as it would carry your ` +
      'credential there; give --url the address Keyplane answers on',
  );
}

/** Talks to one server with one set of credentials. */
export class HttpClient {
  private readonly fetcher: typeof fetch;

  constructor(readonly settings: ClientSettings) {
    this.fetcher = settings.sigv4
      ? createSignedFetcher({ service: settings.sigv4.service, region: settings.sigv4.region })
      : fetch;
  }

  /** Absolute URL of a path on the server (paths are appended to the base URL, query kept). */
  url(path: string): string {
    return /^https?:\/\//.test(path) ? path : `${this.settings.baseUrl}${path}`;
  }

  /** Sends a request and returns the answer whatever its status, except 401/403 (AuthRejectedError). */
  async send(method: string, path: string, req: HttpRequest = {}): Promise<HttpResult> {
    const result = await this.exchange(method, this.url(path), req);
    if (result.status === 401 || result.status === 403) {
      throw new AuthRejectedError(result.status, serverMessage(result));
    }
    return result;
  }

  /** Sends JSON (or nothing) and parses a JSON answer; any non-2xx is a CommandFailedError naming the server's message. */
  async json<T>(method: string, path: string, body?: unknown): Promise<T | undefined> {
    const result = await this.send(method, path, {
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
    });
    if (result.status < 200 || result.status > 299) {
      throw refusal(`${method} ${path} failed with`, result);
    }
    if (result.text === '') return undefined;
    try {
      return JSON.parse(result.text) as T;
    } catch {
      throw new CommandFailedError(`${method} ${path} answered HTTP ${result.status} with a body that is not JSON`);
    }
  }

  private headers(req: HttpRequest): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': CLI_USER_AGENT, ...req.headers };
    if (this.settings.apiKey !== undefined) headers['x-api-key'] = this.settings.apiKey;
    return headers;
  }

  private async exchange(method: string, url: string, req: HttpRequest): Promise<HttpResult> {
    let res: Response;
    try {
      res = await this.fetcher(url, {
        method,
        headers: this.headers(req),
        body: req.body,
        // Never followed: fetch would send x-api-key on to wherever the Location points (another host,
        // or http after https).
        redirect: 'manual',
        signal: AbortSignal.timeout(this.settings.timeoutMs),
      });
    } catch (err) {
      if (this.settings.sigv4 && isCredentialError(err)) {
        throw new UsageError(
          `--sigv4: ${(err as Error).message}. Configure AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).`,
        );
      }
      throw new UnreachableError(url, describeNetworkError(err));
    }
    refuseRedirect(url, res);
    const body = Buffer.from(await res.arrayBuffer());
    return { status: res.status, headers: res.headers, body, text: body.toString('utf8') };
  }
}
