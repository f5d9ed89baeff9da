/**
 * `keyplane request-keys`: acts as an encoder. Builds a SPEKE v1 or v2 CPIX request, sends it,
 * decrypts an encrypted response with the given private key and prints keys, IVs and signalling.
 */
import type { KeyObject } from 'node:crypto';
import { Command, Option } from 'commander';
import { EXIT_CODES_HELP, InvalidResponseError, UsageError } from './cli-errors';
import { addClientOptions, clientFrom } from './client-options';
import { intOption, kidOption, readCertificateDer, readPrivateKey, resourceIdOption } from './cli-input';
import { buildCpixRequest, type CpixRequestSpec, type PlannedKey } from './cpix-request-builder';
import { hlsUri, parsePsshBox, readCpixResponse, type CpixResponse, type ResponseDrm } from './cpix-response-reader';
import { parseDrmList } from './drm-names';
import { refusal } from './http-client';
import { writeFileAtomically } from './local-store';
import { print, printJson, renderTable } from './output';
import { parsePreset } from './presets';
import { SpekeClient, addSpekePathOption } from './speke-client';
import type { EncryptionScheme } from '../drm/drm-system';

interface RequestKeysOptions {
  resourceId: string;
  kids?: string;
  kid: string[];
  drm: string;
  v2?: boolean;
  preset?: string;
  scheme?: EncryptionScheme;
  rotation?: string;
  periodIndex: string;
  cert?: string;
  key?: string;
  json?: boolean;
  saveResponse?: string;
}

function specFrom(opts: RequestKeysOptions, certificateDer: Buffer | undefined): CpixRequestSpec {
  if (!opts.v2 && (opts.preset !== undefined || opts.scheme !== undefined)) {
    throw new UsageError('--preset and --scheme are SPEKE v2 options: add --v2');
  }
  const kids = kidsFrom(opts);
  const keyCount = kids.count ?? (kids.list.length > 0 ? kids.list.length : undefined);
  if (opts.v2 && kids.count !== undefined) {
    throw new UsageError('--kids <n> is for SPEKE v1; with --v2 the --preset decides how many keys are requested');
  }
  const count = intOption(opts.rotation, '--rotation', 1, 100);
  return {
    speke: opts.v2 ? '2.0' : '1.0',
    resourceId: resourceIdOption(opts.resourceId),
    drms: parseDrmList(opts.drm),
    keyCount,
    kids: kids.list,
    preset: opts.preset === undefined ? undefined : parsePreset(opts.preset),
    scheme: opts.scheme,
    rotation:
      count === undefined
        ? undefined
        : { count, firstIndex: intOption(opts.periodIndex, '--period-index', 0, 2 ** 48) ?? 0 },
    certificateDer,
  };
}

/** `--kid` (repeatable) and `--kids` (a count, or comma-separated KIDs): checked locally, no duplicates. */
function kidsFrom(opts: RequestKeysOptions): { count?: number; list: string[] } {
  const raw = opts.kids?.trim();
  if (raw !== undefined && /^\d+$/.test(raw)) {
    if (opts.kid.length > 0) throw new UsageError('use either --kids <n> (a count) or --kid <uuid>, not both');
    return { count: intOption(raw, '--kids', 1, 100), list: [] };
  }
  const list = [
    ...opts.kid.map((k) => kidOption(k, '--kid')),
    ...(raw === undefined ? [] : raw.split(',').map((k) => kidOption(k, '--kids'))),
  ];
  const dup = list.find((k, i) => list.indexOf(k) !== i);
  if (dup !== undefined) throw new UsageError(`KID ${dup} is given twice (--kid/--kids)`);
  if (list.length > 100) throw new UsageError('at most 100 KIDs with --kid/--kids');
  return { list };
}

/** A one-line summary of a DRM system's signalling for the table. */
function signallingSummary(d: ResponseDrm): string {
  const url = d.uriExtXKey ?? hlsUri(d.hlsMedia);
  if (url !== undefined) return url;
  if (d.pssh) {
    try {
      const box = parsePsshBox(d.pssh);
      return `pssh v${box.version}, ${box.kids.length} KID(s), ${d.pssh.length} bytes`;
    } catch (err) {
      return `invalid pssh: ${(err as Error).message}`;
    }
  }
  return d.contentProtectionData ?? '(nothing filled)';
}

function keyRows(planned: PlannedKey[], response: CpixResponse, canDecrypt: boolean): string[][] {
  return planned.map((p) => {
    const got = response.keys.find((k) => k.kid === p.kid);
    const key = got?.key?.toString('hex') ?? (got?.encrypted && !canDecrypt ? '(encrypted: pass --key)' : '(missing)');
    const track = [p.trackType, p.periodIndex === undefined ? undefined : `period ${p.periodIndex}`]
      .filter(Boolean)
      .join(', ');
    return [p.kid, track || '-', key, got?.iv?.toString('hex') ?? '-'];
  });
}

function jsonReport(spec: CpixRequestSpec, endpoint: string, planned: PlannedKey[], response: CpixResponse) {
  return {
    resourceId: spec.resourceId,
    speke: spec.speke,
    endpoint,
    encrypted: response.encrypted,
    keys: planned.map((p) => {
      const got = response.keys.find((k) => k.kid === p.kid);
      return { ...p, key: got?.key?.toString('hex') ?? null, iv: got?.iv?.toString('hex') ?? null };
    }),
    drmSystems: response.drmSystems.map((d) => ({
      kid: d.kid,
      drm: d.drm?.name ?? null,
      systemId: d.systemId,
      keyUrl: d.uriExtXKey ?? hlsUri(d.hlsMedia) ?? null,
      keyFormat: d.keyFormat ?? null,
      pssh: d.pssh?.toString('base64') ?? null,
      contentProtectionData: d.contentProtectionData ?? null,
      hlsMedia: d.hlsMedia ?? null,
      hlsMaster: d.hlsMaster ?? null,
    })),
  };
}

function requireAllKeys(planned: PlannedKey[], response: CpixResponse): void {
  const missing = planned.filter((p) => !response.keys.some((k) => k.kid === p.kid && (k.key || k.encrypted)));
  if (missing.length > 0) {
    throw new InvalidResponseError(`the response has no content key for KID ${missing.map((m) => m.kid).join(', ')}`);
  }
}

async function run(cmd: Command): Promise<void> {
  const opts = cmd.opts<RequestKeysOptions>();
  if (opts.key !== undefined && opts.cert === undefined)
    throw new UsageError('--key needs --cert (the certificate the response is encrypted for)');
  const certificateDer = opts.cert === undefined ? undefined : readCertificateDer(opts.cert);
  const privateKey: KeyObject | undefined = opts.key === undefined ? undefined : readPrivateKey(opts.key);
  const spec = specFrom(opts, certificateDer);
  const speke = new SpekeClient(clientFrom(cmd), cmd.opts<{ spekePath: string }>().spekePath);
  const request = buildCpixRequest(spec);
  if ((spec.kids?.length ?? 0) > request.keys.length) {
    throw new UsageError(
      `${spec.kids?.length} KIDs given but the request has ${request.keys.length} keys (see --preset)`,
    );
  }
  const result = await speke.post(request.xml, { version: spec.speke === '2.0' ? '2.0' : undefined });
  if (result.status !== 200) {
    throw refusal('the key provider answered', result);
  }
  // The answer may hold clear keys: 0600, written beside and renamed (a symlink there is replaced, not followed).
  if (opts.saveResponse !== undefined) writeFileAtomically(opts.saveResponse, result.body);
  const response = readCpixResponse(result.text, privateKey);
  requireAllKeys(request.keys, response);
  if (opts.json) return printJson(jsonReport(spec, speke.endpoint(), request.keys, response));
  print(renderTable(['KID', 'TRACK', 'KEY', 'IV'], keyRows(request.keys, response, privateKey !== undefined)));
  const drmRows = response.drmSystems.map((d) => [d.kid, d.drm?.label ?? d.systemId, signallingSummary(d)]);
  if (drmRows.length > 0) print(`\n${renderTable(['KID', 'DRM', 'SIGNALLING'], drmRows)}`);
}

/** Defines `keyplane request-keys`. */
export function requestKeysCommand(): Command {
  const cmd = new Command('request-keys').description(
    'act as an encoder: send a SPEKE v1/v2 key request and print the keys, IVs and DRM signalling',
  );
  addClientOptions(cmd);
  addSpekePathOption(cmd);
  cmd
    .requiredOption('--resource-id <id>', 'resource ID (CPIX id in v1, contentId in v2)')
    .option(
      '--kid <uuid>',
      'request the key of this KID (repeatable): "send it again, same key"; with --v2 the KIDs go to the preset\'s tracks in order',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--kids <n|uuid,...>', 'SPEKE v1: number of content keys to request (default 1), or comma-separated KIDs')
    .option(
      '--drm <list>',
      'comma-separated DRM systems: hls-aes128, fairplay, widevine, playready, clearkey, common-pssh',
      'hls-aes128',
    )
    .option('--v2', 'speak SPEKE v2.0 (X-Speke-Version: 2.0, CPIX 2.3, encryption contract)')
    .option(
      '--preset <video:audio>',
      'SPEKE v2 encryption contract, e.g. PRESET-VIDEO-3:PRESET-AUDIO-2 or SHARED:SHARED (default PRESET-VIDEO-1:PRESET-AUDIO-1)',
    )
    .addOption(
      new Option(
        '--scheme <scheme>',
        'SPEKE v2 commonEncryptionScheme (default cbcs with HLS systems, else cenc)',
      ).choices(['cenc', 'cbc1', 'cens', 'cbcs']),
    )
    .option('--rotation <n>', 'key rotation: request keys for n key periods')
    .option('--period-index <n>', 'index of the first key period with --rotation', '0')
    .option('--cert <file>', 'delivery certificate (PEM/DER): ask for an encrypted response')
    .option('--key <file>', 'private key of --cert, to decrypt the response (keys are checked against their MACs)')
    .option('--save-response <file>', 'also write the raw response document to a file')
    .option('--json', 'print JSON instead of tables')
    .addHelpText(
      'after',
      `
Examples:
  keyplane request-keys --url http://127.0.0.1:8080 --api-key $ENC --resource-id movie-1
  keyplane request-keys --resource-id movie-1 --drm widevine,playready --v2 --preset PRESET-VIDEO-3:PRESET-AUDIO-1
  keyplane request-keys --resource-id movie-1 --kid 8ad1c1c4-93b5-4a0c-9d37-2f8f1c0a5e11   # same key again
  keyplane request-keys --resource-id live-1 --rotation 3 --cert delivery.pem --key delivery-key.pem --json
${EXIT_CODES_HELP}`,
    )
    .action(async (_opts, command: Command) => run(command));
  return cmd;
}
