/**
 * `keyplane export` and `keyplane import`: a store's keys as CPIX 2.3 documents (one per resource, in a
 * directory with an index.json), encrypted to a recipient certificate or, only when asked, in the clear;
 * and CPIX documents from any provider into the store. Both work on the store the KEYPLANE_* settings name.
 */
import { X509Certificate, createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { configuredStoreSpec, openEnd } from '../compose/store-ends';
import { buildKeyArchive, readKeyArchive, type ArchiveRecipient } from '../cpix/key-archive';
import { parseDeliveryCertificate } from '../cpix/delivery-certificate';
import { checkResourceId } from '../domain/ids';
import { checkTenantId } from '../domain/tenants';
import { KeyplaneError } from '../errors';
import { KeyArchiveService, type ArchiveCaller, type ExportItem, type ImportResult } from '../keys/key-archive-service';
import { CommandFailedError, EXIT_CODES_HELP, UsageError } from './cli-errors';
import { localConfig, mapLimit, withUsageErrors, writeFileAtomically, writeFileAtomicallyAsync } from './local-store';
import { print, printJson, renderTable } from './output';

/** Resources exported or imported at once (their writes share commits; memory stays bounded). */
const CONCURRENCY = 8;

/** Largest CPIX file `import` reads (the XML limits bound its shape; this bounds its bytes). */
export const MAX_IMPORT_FILE_BYTES = 64 * 1024 * 1024;

const cliCaller = (route: string): ArchiveCaller => ({
  principal: `cli:${os.userInfo().username}`,
  tenant: '*',
  route,
});

function readFileOption(file: string, option: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`${option} ${file}: ${(err as Error).message}`);
  }
}

/** The recipient certificate (PEM or DER), vetted like a SPEKE delivery certificate. */
function recipientOf(file: string): ArchiveRecipient {
  let der: Buffer;
  try {
    der = new X509Certificate(readFileOption(file, '--cert')).raw;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--cert ${file} is not an X.509 certificate (PEM or DER)`);
  }
  try {
    return { der, certificate: parseDeliveryCertificate(der, new Date()) };
  } catch (err) {
    throw new UsageError(`--cert ${file}: ${(err as Error).message}`);
  }
}

interface ExportOptions {
  resource?: string;
  all?: boolean;
  tenant?: string;
  cert?: string;
  plaintext?: boolean;
  out: string;
  json?: boolean;
}

function checkExportOptions(o: ExportOptions): void {
  const chosen = [o.resource !== undefined, o.all === true, o.tenant !== undefined].filter(Boolean).length;
  if (chosen !== 1) throw new UsageError('name what to export: exactly one of --resource ID, --all, --tenant T');
  if (o.cert === undefined && !o.plaintext) {
    throw new UsageError('--cert recipient.pem is required: keys are exported in the clear only with --plaintext');
  }
  if (o.cert !== undefined && o.plaintext) throw new UsageError('--cert and --plaintext exclude each other');
  if (fs.existsSync(o.out) && (!fs.statSync(o.out).isDirectory() || fs.readdirSync(o.out).length > 0)) {
    throw new UsageError(`--out ${o.out} exists and is not an empty directory`);
  }
}

/** The longest resource ID kept whole in a file name (255 bytes with the temporary name's affixes). */
const MAX_NAME_ID = 120;

/**
 * One file name per resource of an export: `<id>.cpix.xml` for a short lower-case ID, else up to 120
 * characters of it and a hash of the whole ID. No two names are equal ignoring case (macOS, Windows),
 * however the IDs were chosen; the ID itself is in the document and in index.json.
 */
class ArchiveNames {
  private readonly taken = new Set<string>();

  of(resourceId: string): string {
    const plain = resourceId.length <= MAX_NAME_ID && resourceId === resourceId.toLowerCase();
    const hash = createHash('sha256').update(resourceId).digest('hex').slice(0, 12);
    let name = plain ? `${resourceId}.cpix.xml` : `${resourceId.slice(0, MAX_NAME_ID)}.${hash}.cpix.xml`;
    for (let n = 2; this.taken.has(name.toLowerCase()); n += 1) {
      name = `${resourceId.slice(0, MAX_NAME_ID)}.${hash}.${n}.cpix.xml`;
    }
    this.taken.add(name.toLowerCase());
    return name;
  }
}

async function runExport(o: ExportOptions): Promise<void> {
  checkExportOptions(o);
  const recipient = o.cert === undefined ? undefined : recipientOf(o.cert);
  const config = localConfig();
  const end = openEnd(config, configuredStoreSpec(config), {}, 'from', false);
  try {
    const service = new KeyArchiveService(end.store, end.cipher);
    const caller = cliCaller('keyplane export');
    const owners =
      o.resource !== undefined
        ? [{ owner: await service.ownerFor(checkResourceId(o.resource, '--resource'), '*') }]
        : service.resources('*', o.tenant === undefined ? undefined : checkTenantId(o.tenant, '--tenant'));
    fs.mkdirSync(o.out, { recursive: true, mode: 0o700 });
    const names = new ArchiveNames();
    const written: string[] = [];
    let index;
    try {
      index = await mapLimit(owners, CONCURRENCY, async ({ owner, keys }: ExportItem) => {
        const fingerprint = recipient?.certificate.sha256;
        const archive = await service.exportResource(owner.resourceId, caller, fingerprint, keys);
        const file = names.of(owner.resourceId);
        await writeFileAtomicallyAsync(path.join(o.out, file), buildKeyArchive(archive, recipient));
        written.push(file);
        return { resourceId: owner.resourceId, tenant: owner.tenant, file, kids: archive.keys.map((k) => k.kid) };
      });
    } catch (err) {
      // No half an export left behind (it may hold keys in the clear): what was written goes again.
      for (const file of written) fs.rmSync(path.join(o.out, file), { force: true });
      throw new CommandFailedError(
        `nothing exported (${written.length} file(s) written were removed): ${(err as Error).message}`,
      );
    }
    const summary = {
      format: 'keyplane-cpix-archive/1',
      createdAt: new Date().toISOString(),
      encryptedTo: recipient ? { sha256: recipient.certificate.sha256, subject: recipient.certificate.subject } : null,
      resources: index,
    };
    writeFileAtomically(path.join(o.out, 'index.json'), `${JSON.stringify(summary, null, 2)}\n`);
    if (o.json) printJson(summary);
    else {
      const to = recipient ? `encrypted to ${recipient.certificate.sha256}` : 'IN THE CLEAR (--plaintext)';
      print(
        `exported ${index.length} resource(s), ${index.reduce((n, r) => n + r.kids.length, 0)} key(s) to ${o.out}, ${to}`,
      );
    }
  } finally {
    await end.store.close();
  }
}

interface ImportOptions {
  key?: string;
  tenant: string;
  dryRun?: boolean;
  json?: boolean;
}

/** The CPIX files to import: FILE itself, or every *.xml of a directory, by name. */
function importFiles(target: string): string[] {
  if (!fs.existsSync(target)) throw new UsageError(`${target} does not exist`);
  if (!fs.statSync(target).isDirectory()) return [target];
  return fs
    .readdirSync(target)
    .filter((f) => f.endsWith('.xml'))
    .sort()
    .map((f) => path.join(target, f));
}

function readImportFile(file: string): string {
  const size = fs.statSync(file).size;
  if (size > MAX_IMPORT_FILE_BYTES)
    throw new UsageError(`${file} is ${size} bytes; at most ${MAX_IMPORT_FILE_BYTES} are read`);
  return fs.readFileSync(file, 'utf8');
}

function privateKeyOf(file: string | undefined): KeyObject | undefined {
  if (file === undefined) return undefined;
  try {
    return createPrivateKey(readFileOption(file, '--key'));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--key ${file} is not a private key (PEM or DER)`);
  }
}

async function runImport(target: string, o: ImportOptions): Promise<void> {
  const tenant = checkTenantId(o.tenant, '--tenant');
  const privateKey = privateKeyOf(o.key);
  // Every file is read and checked before the first write: a bad one among many changes nothing.
  const archives = importFiles(target).map((file) => {
    try {
      return { file, archive: readKeyArchive(readImportFile(file), { privateKey }) };
    } catch (err) {
      if (err instanceof KeyplaneError) throw new CommandFailedError(`${file}: ${err.message} (nothing imported)`);
      throw err;
    }
  });
  const config = localConfig();
  const end = openEnd(config, configuredStoreSpec(config), {}, 'to', true);
  const results: Array<ImportResult & { file: string }> = [];
  try {
    const service = new KeyArchiveService(end.store, end.cipher);
    const imported = await mapLimit(archives, CONCURRENCY, async ({ file, archive }) => ({
      file,
      ...(await service.importArchive(archive, tenant, cliCaller('keyplane import'), o.dryRun === true)),
    }));
    results.push(...imported);
  } finally {
    await end.store.close();
  }
  if (o.json) printJson({ dryRun: o.dryRun === true, results });
  else {
    const rows = results.map((r) => [
      r.resourceId,
      String(r.imported.length),
      String(r.unchanged.length),
      r.conflicts.map((c) => (c.kid ? `${c.kid}: ${c.reason}` : c.reason)).join('; ') || '-',
    ]);
    print(renderTable(['RESOURCE', o.dryRun ? 'WOULD IMPORT' : 'IMPORTED', 'UNCHANGED', 'CONFLICTS'], rows));
  }
  const conflicted = results.filter((r) => r.conflicts.length > 0).length;
  if (conflicted > 0)
    throw new CommandFailedError(
      `${conflicted} resource(s) not imported: conflicts (see above); nothing was overwritten`,
    );
}

/** Defines `keyplane export` and `keyplane import`. */
export function archiveCommands(): Command[] {
  const exportCmd = new Command('export')
    .description('export keys as CPIX 2.3 documents (one per resource) encrypted to a recipient certificate')
    .option('--resource <id>', 'the keys of one resource ID')
    .option('--all', 'the keys of every resource')
    .option('--tenant <tenant>', "the keys of one tenant's resources")
    .option('--cert <file>', "the recipient's X.509 certificate (PEM or DER; RSA >= 2048 bits)")
    .option('--plaintext', 'export the keys in the clear instead (audited as such)')
    .requiredOption('--out <dir>', 'new (or empty) directory: <resourceId>.cpix.xml per resource and index.json')
    .option('--json', 'print the index as JSON')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (o: ExportOptions) => withUsageErrors(() => runExport(o)));
  const importCmd = new Command('import')
    .description('import CPIX documents (plain or encrypted to our certificate) as resources of a tenant')
    .argument('<file>', 'a CPIX document, or a directory of them (*.xml, e.g. from keyplane export)')
    .option('--key <file>', 'our private key (PEM), for documents encrypted to our certificate')
    .option('--tenant <tenant>', 'the tenant the imported resources belong to', 'default')
    .option('--dry-run', 'report what would be imported and every conflict; write nothing')
    .option('--json', 'print the results as JSON')
    .addHelpText(
      'after',
      `\nConflicts (a KID bound to another key or resource, a resource of another tenant) are reported and\nnothing of that document is written (exit 1). Importing the same documents again changes nothing.\n${EXIT_CODES_HELP}`,
    )
    .action(async (file: string, o: ImportOptions) => withUsageErrors(() => runImport(file, o)));
  return [exportCmd, importCmd];
}
