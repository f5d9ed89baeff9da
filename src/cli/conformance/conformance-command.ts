/**
 * `keyplane conformance`: runs the SPEKE v1/v2 battery against any key provider and prints a
 * pass/fail table (or JSON). Exits 1 when a check fails, 3/4 when the provider cannot be reached
 * or rejects the credentials.
 */
import crypto from 'node:crypto';
import { Command } from 'commander';
import { CommandFailedError, EXIT_CODES_HELP, UsageError } from '../cli-errors';
import { addClientOptions, clientFrom } from '../client-options';
import { DRM_NAMES, parseDrmList } from '../drm-names';
import { print, printJson } from '../output';
import { SpekeClient, addSpekePathOption } from '../speke-client';
import { WidevineClient, parseAesSigner } from '../widevine-client';
import { battery } from './battery';
import type { ConformanceContext } from './check';
import { resolveDelivery } from './delivery';
import { jsonReport, summarize, tableReport } from './reporters';
import { runChecks, stderrProgress } from './runner';
import { widevineChecks } from './widevine-checks';
import { createXsdValidator } from './xsd';
import { defaultXsdDir } from './xsd-dir';

interface ConformanceOptions {
  v1?: boolean;
  v2?: boolean;
  drm: string;
  xsdDir?: string;
  xmllint: string;
  cert?: string;
  key?: string;
  only?: string;
  json?: boolean;
  spekePath: string;
  widevineSigner?: string;
  widevinePath: string;
}

async function run(cmd: Command): Promise<void> {
  const opts = cmd.opts<ConformanceOptions>();
  const versions: Array<'1.0' | '2.0'> =
    opts.v1 || opts.v2 ? [...(opts.v1 ? ['1.0' as const] : []), ...(opts.v2 ? ['2.0' as const] : [])] : ['1.0', '2.0'];
  const drms = parseDrmList(opts.drm);
  const checks = battery(
    versions,
    drms,
    opts.only
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  const only =
    opts.only
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean) ?? [];
  const wanted = (name: string) => only.length === 0 || only.some((part) => name.includes(part));
  if (opts.widevineSigner) checks.push(...widevineChecks().filter((c) => wanted(c.name)));
  if (checks.length === 0) throw new UsageError(`--only "${opts.only}" matches no check`);
  const speke = new SpekeClient(clientFrom(cmd), opts.spekePath);
  const widevineSigner = opts.widevineSigner ? parseAesSigner(opts.widevineSigner) : undefined;
  const ctx: ConformanceContext = {
    speke,
    runId: crypto.randomBytes(4).toString('hex'),
    drms,
    xsd: createXsdValidator(opts.xsdDir ?? defaultXsdDir(), opts.xmllint),
    delivery: resolveDelivery(opts.cert, opts.key),
    ...(widevineSigner ? { widevine: new WidevineClient(speke.http.url(opts.widevinePath), widevineSigner) } : {}),
  };
  const reports = await runChecks(checks, ctx, stderrProgress());
  const target = speke.endpoint();
  if (opts.json) printJson(jsonReport(target, versions, reports));
  else print(tableReport(target, reports));
  const failed = reports.filter((r) => r.status === 'fail').map((r) => r.name);
  if (failed.length > 0) {
    const s = summarize(reports);
    throw new CommandFailedError(`${s.failed} of ${s.total} conformance checks failed: ${failed.join(', ')}`);
  }
}

/** Defines `keyplane conformance`. */
export function conformanceCommand(): Command {
  const cmd = new Command('conformance').description('run SPEKE v1/v2 conformance checks against any key provider');
  addClientOptions(cmd);
  addSpekePathOption(cmd);
  return cmd
    .option('--v1', 'run the SPEKE v1 checks (default: both versions)')
    .option('--v2', 'run the SPEKE v2 checks (default: both versions)')
    .option('--drm <list>', `DRM systems to test (${DRM_NAMES.join(', ')})`, DRM_NAMES.join(','))
    .option(
      '--xsd-dir <dir>',
      'folder with cpix-2.3/cpix.xsd (default: KEYPLANE_XSD_DIR, else KEYPLANE_SHARED_DIR/docs/xsd, else ../shared/docs/xsd beside the repository or beside the one a local clone came from)',
    )
    .option('--xmllint <path>', 'xmllint executable for the XSD checks', 'xmllint')
    .option(
      '--cert <file>',
      'delivery certificate for the encrypted-response checks (default: the repository test certificate, or a new one from openssl)',
    )
    .option('--key <file>', 'private key of --cert')
    .option(
      '--only <names>',
      'run only checks whose name contains one of these comma-separated parts, e.g. v2.reject,key-stability',
    )
    .option('--json', 'print the results as JSON (for CI)')
    .option(
      '--widevine-signer <name:keyHex:ivHex>',
      'also run the Widevine Common Encryption API checks (wv-api.*), signing as this AES signer',
    )
    .option('--widevine-path <path>', 'path of the Widevine API endpoint under --url', '/widevine/cenc')
    .addHelpText(
      'after',
      `
Checks (each passes, fails or is skipped with a reason):
  transport   content type, Speke-User-Agent / X-Speke-Version / X-Speke-User-Agent headers,
              the request document kept in the response
  drm         a valid request per DRM system; keys and signalling (URIExtXKey, PSSH, HLSSignalingData)
  contract    SPEKE v2: every encryption preset (PRESET-VIDEO-1..8 x PRESET-AUDIO-1..3, SHARED, UNENCRYPTED)
  keys        several keys, the same keys on repeat, key rotation periods
  negative    invalid requests must get a 4xx (never 2xx or 5xx); v2 reports AWS's 422 messages
  encryption  encrypted responses: decrypt, ValueMAC checks, same keys as a clear request
  schema      SPEKE v2 responses valid against the CPIX 2.3 XSD (xmllint; skipped without it)
Each check uses its own resource ID (kpc-<run>-<check>), so runs never collide.
A provider that does not support a DRM system fails that system's checks: limit them with --drm.

Examples:
  keyplane conformance --url http://127.0.0.1:8080 --api-key $ENC
  keyplane conformance --url http://127.0.0.1:8080 --only wv-api --widevine-signer packager:<64 hex>:<32 hex>
  keyplane conformance --url https://abc.execute-api.eu-west-1.amazonaws.com/prod --speke-path /copyProtection --sigv4 --v2 --json
${EXIT_CODES_HELP}`,
    )
    .action(async (_opts, command: Command) => run(command));
}
