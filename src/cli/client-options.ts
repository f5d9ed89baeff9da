/**
 * The options every client command shares (server URL, API key or SigV4, timeout), and turning
 * them into an HttpClient. Kept in one place so every command authenticates the same way.
 */
import { Option, type Command } from 'commander';
import { UsageError } from './cli-errors';
import { HttpClient } from './http-client';
import { withoutTrailingSlashes } from '../util/trailing-slashes';

/** Option values `addClientOptions` defines, as commander parses them. */
interface ClientOptionValues {
  url?: string;
  apiKey?: string;
  sigv4?: boolean;
  region: string;
  service: string;
  timeout: string;
}

/** Adds `--url`, `--api-key`, `--sigv4`, `--region`, `--service` and `--timeout` to a command. */
export function addClientOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'server URL, e.g. http://127.0.0.1:8080').env('KEYPLANE_URL'))
    .addOption(new Option('--api-key <key>', 'API key sent as x-api-key').env('KEYPLANE_API_KEY'))
    .option('--sigv4', 'sign requests with AWS SigV4 using the standard AWS credential chain instead of an API key')
    .addOption(new Option('--region <region>', 'AWS region for --sigv4').env('AWS_REGION').default('us-east-1'))
    .option('--service <name>', 'AWS service name for --sigv4 (API Gateway: execute-api)', 'execute-api')
    .option('--timeout <seconds>', 'give up on a request after this many seconds', '30');
}

/** Checks a `--url` value and returns it without a trailing slash. */
function checkBaseUrl(raw: string | undefined): string {
  if (raw === undefined || raw.trim() === '') {
    throw new UsageError('missing --url: name the server, e.g. --url http://127.0.0.1:8080 (or set KEYPLANE_URL)');
  }
  let parsed: URL;
  try {
    parsed = new URL(raw.trim());
  } catch {
    throw new UsageError(`--url "${raw}" is not an absolute URL; use e.g. http://127.0.0.1:8080`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`--url must use http or https, got "${parsed.protocol}"`);
  }
  return withoutTrailingSlashes(raw.trim());
}

/** Parses a positive number of seconds from an option. */
function positiveSeconds(raw: string, option: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`${option} must be a positive number of seconds`);
  return value;
}

/** Builds the HttpClient a command's options describe; the usage errors name the option to fix. */
export function clientFrom(cmd: Command): HttpClient {
  const opts = cmd.opts<ClientOptionValues>();
  const baseUrl = checkBaseUrl(opts.url);
  const apiKeyFromCli = cmd.getOptionValueSource('apiKey') === 'cli';
  if (opts.sigv4 && apiKeyFromCli) throw new UsageError('use either --api-key or --sigv4, not both');
  return new HttpClient({
    baseUrl,
    apiKey: opts.sigv4 ? undefined : opts.apiKey,
    sigv4: opts.sigv4 ? { region: opts.region, service: opts.service } : undefined,
    timeoutMs: positiveSeconds(opts.timeout, '--timeout') * 1000,
  });
}
