/**
 * The `keyplane` command line: builds the command tree, runs it, and turns every error into a
 * message on stderr and one of the documented exit codes.
 */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version';
import { adminCommands } from './admin-commands';
import { backupCommand } from './backup';
import { CliError, EXIT_CODES, EXIT_CODES_HELP, ServerRefusedError, errorCode } from './cli-errors';
import { conformanceCommand } from './conformance/conformance-command';
import { packageHlsCommand } from './package-hls';
import { requestKeysCommand } from './request-keys';
import { restoreCommand } from './restore';
import { rotateMasterKeyCommand } from './rotate-master-key';
import { isServing, serveCommand } from './serve';
import { migrateCommand } from './migrate-command';
import { archiveCommands } from './archive-commands';

/** Builds the program; `exitOverride` everywhere so main() decides the exit codes. */
function buildProgram(json: boolean): Command {
  const program = new Command('keyplane')
    .description('Keyplane: run, operate and test SPEKE key providers')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run the command with --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      `
Client commands take --url (or KEYPLANE_URL) and --api-key (or KEYPLANE_API_KEY),
or --sigv4 to sign with the standard AWS credential chain.
${EXIT_CODES_HELP}`,
    );
  const commands = [
    serveCommand(),
    requestKeysCommand(),
    ...adminCommands(),
    conformanceCommand(),
    packageHlsCommand(),
    backupCommand(),
    restoreCommand(),
    rotateMasterKeyCommand(),
    migrateCommand(),
    ...archiveCommands(),
  ];
  for (const cmd of commands) program.addCommand(cmd);
  applyRecursively(program, (cmd) => {
    cmd.exitOverride().showHelpAfterError('(run the command with --help for usage)');
    // Under --json, usage errors are printed once as JSON by runCli instead of as text here.
    if (json) cmd.configureOutput({ outputError: () => undefined }).showHelpAfterError(false);
  });
  return program;
}

function applyRecursively(cmd: Command, fn: (cmd: Command) => void): void {
  fn(cmd);
  for (const sub of cmd.commands) applyRecursively(sub, fn);
}

function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) {
    const ok = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code);
    return ok ? EXIT_CODES.ok : EXIT_CODES.usage;
  }
  if (err instanceof CliError) return err.exitCode;
  return EXIT_CODES.failed;
}

/** The `--json` form of an error: one object on stderr (stdout stays for results). */
function jsonError(err: unknown, exitCode: number): string {
  const body: Record<string, unknown> =
    err instanceof CliError
      ? { error: errorCode(err), message: err.message, exitCode }
      : err instanceof CommanderError
        ? { error: 'usage_error', message: err.message.replace(/^error: /, ''), exitCode }
        : { error: 'command_failed', message: (err as Error).message, exitCode };
  if (err instanceof ServerRefusedError) {
    body.status = err.status;
    if (err.retryAfter !== undefined) body.retryAfter = Number(err.retryAfter);
  }
  return `${JSON.stringify(body)}\n`;
}

/** Runs the CLI with `argv` (as process.argv) and resolves to the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const json = argv.slice(2).includes('--json');
  const program = buildProgram(json);
  if (argv.length <= 2) {
    // No command at all: the help, on stderr, as a usage error.
    program.outputHelp({ error: true });
    return EXIT_CODES.usage;
  }
  try {
    await program.parseAsync(argv);
    return EXIT_CODES.ok;
  } catch (err) {
    const code = exitCodeOf(err);
    if (json && code !== EXIT_CODES.ok) process.stderr.write(jsonError(err, code));
    // Otherwise Commander has already printed its own usage errors and help.
    else if (!(err instanceof CommanderError)) process.stderr.write(`keyplane: ${(err as Error).message}\n`);
    return code;
  }
}

/** Entry point of bin/keyplane.js: runs the CLI, then exits unless `serve` is running. */
export async function main(argv: string[] = process.argv): Promise<void> {
  // `keyplane ... | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT_CODES.ok);
    throw err;
  });
  const code = await runCli(argv);
  if (!isServing() || code !== EXIT_CODES.ok) process.exit(code);
}

if (require.main === module) void main();
