/**
 * Thin clients of Keyplane's admin HTTP API: static keys, API keys, playback tokens and leases.
 * Each prints a readable summary, or the server's JSON with `--json`.
 */
import fs from 'node:fs';
import { Command } from 'commander';
import { EXIT_CODES_HELP, UsageError } from './cli-errors';
import { addClientOptions, clientFrom } from './client-options';
import { hexOption, intOption, kidOption, resourceIdOption } from './cli-input';
import { print, printJson, renderFields, renderTable } from './output';

type Json = Record<string, unknown>;

const str = (v: unknown): string => (v === undefined || v === null ? '-' : Array.isArray(v) ? v.join(',') : String(v));

/** Adds the shared client options, `--json`, the exit-code help and an action to a subcommand. */
function clientCommand(name: string, description: string, action: (cmd: Command) => Promise<void>): Command {
  const cmd = new Command(name).description(description);
  addClientOptions(cmd);
  cmd.option('--json', 'print the server answer as JSON');
  cmd.addHelpText('after', EXIT_CODES_HELP);
  return cmd.action(async (...args: unknown[]) => action(args[args.length - 1] as Command));
}

function show(cmd: Command, body: Json | undefined, fields: ReadonlyArray<readonly [string, string]>): void {
  if (cmd.opts<{ json?: boolean }>().json) printJson(body ?? {});
  else print(renderFields(fields));
}

const path = (...parts: string[]) => parts.map(encodeURIComponent).join('/');

function staticKeyFields(b: Json): Array<[string, string]> {
  const keys = [
    'resourceId',
    'kid',
    'StaticKeyValue',
    'Url',
    'KeyFormat',
    'KeyFormatVersions',
    'ConstantInitializationVector',
  ];
  return keys.map((k) => [k, str(b[k])]);
}

/** A hex value given inline or, kept off the command line (`ps` shows every argument), in a file. */
function secretHex(inline: string | undefined, file: string | undefined, option: string): string | undefined {
  if (inline !== undefined && file !== undefined) throw new UsageError(`give ${option} or ${option}-file, not both`);
  if (file === undefined) return inline;
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`${option}-file ${file}: ${(err as Error).message}`);
  }
}

function staticKeyCommand(): Command {
  const group = new Command('static-key').description(
    'static HLS AES-128 keys for an encoder\'s "static key" provider',
  );
  group.addCommand(
    clientCommand(
      'create',
      'create (or import with --key-hex/--iv-hex) the static key of a resource ID',
      async (cmd) => {
        const o = cmd.opts<{
          resourceId: string;
          keyHex?: string;
          ivHex?: string;
          keyHexFile?: string;
          ivHexFile?: string;
        }>();
        const keyHex = secretHex(o.keyHex, o.keyHexFile, '--key-hex');
        const ivHex = secretHex(o.ivHex, o.ivHexFile, '--iv-hex');
        const request = {
          resourceId: resourceIdOption(o.resourceId),
          keyHex: keyHex === undefined ? undefined : hexOption(keyHex, '--key-hex', 16).toString('hex'),
          ivHex: ivHex === undefined ? undefined : hexOption(ivHex, '--iv-hex', 16).toString('hex'),
        };
        const body = await clientFrom(cmd).json<Json>('POST', '/static-keys', request);
        show(cmd, body, staticKeyFields(body ?? {}));
      },
    )
      .requiredOption('--resource-id <id>', 'resource ID the key belongs to')
      .option(
        '--key-hex <hex>',
        'import this key (32 hex digits) instead of generating one (ps shows it: prefer --key-hex-file)',
      )
      .option('--key-hex-file <path>', 'import the key (32 hex digits) read from this file')
      .option('--iv-hex <hex>', 'import this IV (32 hex digits)')
      .option('--iv-hex-file <path>', 'import the IV (32 hex digits) read from this file'),
  );
  group.addCommand(
    clientCommand('show', 'show the static key of a resource ID', async (cmd) => {
      const id = resourceIdOption(cmd.args[0] as string, '<resource-id>');
      const body = await clientFrom(cmd).json<Json>('GET', `/static-keys/${path(id)}`);
      show(cmd, body, staticKeyFields(body ?? {}));
    }).argument('<resource-id>', 'resource ID'),
  );
  return group;
}

function apiKeyCommand(): Command {
  const group = new Command('api-key').description('API keys (roles: admin, encoder, keyserver, token-issuer)');
  group.addCommand(
    clientCommand('create', 'create an API key; its secret is printed once', async (cmd) => {
      const o = cmd.opts<{ name: string; roles: string; tenant?: string }>();
      const roles = o.roles
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean);
      const request = { name: o.name, roles, ...(o.tenant === undefined ? {} : { tenant: o.tenant }) };
      const body = (await clientFrom(cmd).json<Json>('POST', '/api-keys', request)) ?? {};
      show(cmd, body, [
        ['id', str(body.id)],
        ['name', str(body.name)],
        ['roles', str(body.roles)],
        ['tenant', str(body.tenant)],
        ['key', str(body.key)],
      ]);
      if (!cmd.opts<{ json?: boolean }>().json) process.stderr.write('Store the key now: it is shown only once.\n');
    })
      .requiredOption('--name <name>', 'who or what uses the key, e.g. encoder-eu-1')
      .requiredOption('--roles <list>', 'comma-separated roles, e.g. encoder or keyserver,token-issuer')
      .option('--tenant <tenant>', "the key's tenant (default: yours; `default` for the bootstrap admin; `*`: all)"),
  );
  group.addCommand(
    clientCommand('list', 'list API keys (never their secrets) of your tenant (`*`: all)', async (cmd) => {
      const tenant = cmd.opts<{ tenant?: string }>().tenant;
      const query = tenant === undefined ? '' : `?tenant=${encodeURIComponent(tenant)}`;
      const body = (await clientFrom(cmd).json<{ apiKeys: Json[] }>('GET', `/api-keys${query}`)) ?? { apiKeys: [] };
      if (cmd.opts<{ json?: boolean }>().json) return printJson(body);
      const rows = body.apiKeys.map((k) => [
        str(k.id),
        str(k.name),
        str(k.roles),
        str(k.tenant),
        str(k.createdAt),
        str(k.revokedAt),
      ]);
      print(renderTable(['ID', 'NAME', 'ROLES', 'TENANT', 'CREATED', 'REVOKED'], rows));
    }).option('--tenant <tenant>', 'only the keys of this tenant (admins of `*`)'),
  );
  group.addCommand(
    clientCommand('revoke', 'revoke an API key (effective on its next request)', async (cmd) => {
      const id = cmd.args[0] as string;
      await clientFrom(cmd).json('DELETE', `/api-keys/${path(id)}`);
      show(cmd, { id, revoked: true }, [['revoked', id]]);
    }).argument('<id>', 'API key id (from `keyplane api-key list`)'),
  );
  return group;
}

function tokenCommand(): Command {
  const group = new Command('token').description('playback tokens for players');
  group.addCommand(
    clientCommand('mint', 'mint a playback token that may fetch the keys of one resource ID', async (cmd) => {
      const o = cmd.opts<{ resourceId: string; ttl?: string; kids?: string }>();
      const ttlSeconds = intOption(o.ttl, '--ttl', 1, 31 * 24 * 3600);
      const kids = o.kids
        ?.split(',')
        .filter((k) => k.trim() !== '')
        .map((k) => kidOption(k, '--kids'));
      const body =
        (await clientFrom(cmd).json<Json>('POST', '/playback-tokens', {
          resourceId: resourceIdOption(o.resourceId),
          ttlSeconds,
          kids,
        })) ?? {};
      show(cmd, body, [
        ['token', str(body.token)],
        ['expiresAt', str(body.expiresAt)],
        ['keyUrl', str(body.keyUrl)],
      ]);
    })
      .requiredOption('--resource-id <id>', 'resource ID the token unlocks')
      .option('--ttl <seconds>', 'lifetime in seconds (server default when omitted)')
      .option('--kids <list>', 'comma-separated KIDs the token is limited to (all when omitted)'),
  );
  return group;
}

function leaseCommand(): Command {
  const group = new Command('lease').description('leases: one encryption process per resource ID');
  group.addCommand(
    clientCommand('show', 'show the active lease of a resource ID', async (cmd) => {
      const id = resourceIdOption(cmd.args[0] as string, '<resource-id>');
      const body = (await clientFrom(cmd).json<Json>('GET', `/leases/${path(id)}`)) ?? {};
      const fields = ['resourceId', 'owner', 'kids', 'rotating', 'expiresAt'].map((k) => [k, str(body[k])] as const);
      show(cmd, body, fields);
    }).argument('<resource-id>', 'resource ID'),
  );
  group.addCommand(
    clientCommand(
      'release',
      'release a resource ID so a new encryption process may use it (keys stay)',
      async (cmd) => {
        const id = resourceIdOption(cmd.args[0] as string, '<resource-id>');
        await clientFrom(cmd).json('DELETE', `/leases/${path(id)}`);
        show(cmd, { resourceId: id, released: true }, [['released', id]]);
      },
    ).argument('<resource-id>', 'resource ID'),
  );
  return group;
}

function tenantCommand(): Command {
  const group = new Command('tenant').description('tenants: who owns which API keys and resource IDs');
  group.addCommand(
    clientCommand('list', 'list the tenants with their API key and resource counts (admin of `*`)', async (cmd) => {
      const body = (await clientFrom(cmd).json<{ tenants: Json[] }>('GET', '/tenants')) ?? { tenants: [] };
      if (cmd.opts<{ json?: boolean }>().json) return printJson(body);
      const rows = body.tenants.map((t) => [str(t.tenant), str(t.apiKeys), str(t.resources)]);
      print(renderTable(['TENANT', 'API KEYS', 'RESOURCES'], rows));
    }),
  );
  return group;
}

/** Defines the admin command groups: static-key, api-key, token, lease, tenant. */
export function adminCommands(): Command[] {
  return [staticKeyCommand(), apiKeyCommand(), tokenCommand(), leaseCommand(), tenantCommand()];
}
