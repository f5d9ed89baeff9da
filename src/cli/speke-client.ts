/**
 * Posts CPIX documents to a SPEKE endpoint the way an encoder does (Content-Type, X-Speke-Version,
 * X-Speke-User-Agent), over the shared HttpClient so auth and exit codes stay uniform.
 */
import { Option, type Command } from 'commander';
import { CLI_USER_AGENT, type HttpClient, type HttpResult } from './http-client';

/** Default path of the SPEKE endpoint under `--url`. */
const DEFAULT_SPEKE_PATH = '/copyProtection';

/** Per-call header choices; `version` undefined means SPEKE v1 (no X-Speke-Version). */
interface SpekePost {
  version?: string;
  contentType?: string;
}

/** Adds `--speke-path` (where the SPEKE endpoint lives under --url). */
export function addSpekePathOption(cmd: Command): Command {
  return cmd.addOption(
    new Option(
      '--speke-path <path>',
      'path of the SPEKE endpoint under --url (use "" when --url is the full endpoint)',
    ).default(DEFAULT_SPEKE_PATH),
  );
}

/** A SPEKE endpoint on one server. */
export class SpekeClient {
  constructor(
    readonly http: HttpClient,
    private readonly spekePath: string = DEFAULT_SPEKE_PATH,
  ) {}

  /** Absolute URL of the SPEKE endpoint (the path is not appended twice when --url already ends with it). */
  endpoint(): string {
    const base = this.http.settings.baseUrl;
    const path = this.spekePath === '' || base.endsWith(this.spekePath) ? '' : this.spekePath;
    return `${base}${path.startsWith('/') || path === '' ? path : `/${path}`}`;
  }

  /** Posts one CPIX document and returns the answer whatever its status (401/403 throw AuthRejectedError). */
  post(xml: string, opts: SpekePost = {}): Promise<HttpResult> {
    const headers: Record<string, string> = {
      'content-type': opts.contentType ?? 'application/xml',
      'x-speke-user-agent': CLI_USER_AGENT,
    };
    if (opts.version !== undefined) headers['x-speke-version'] = opts.version;
    return this.http.send('POST', this.endpoint(), { body: xml, headers });
  }
}
