/**
 * The `keyplane` command line: builds the command tree, runs it, and turns every error into a
 * message on stderr and one of the documented exit codes.
 */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version';
import { adminCommands } from './admin-commands';
import { CliError, EXIT_CODES, EXIT_CODES_HELP } from './cli-errors';
import { conformanceCommand } from './conformance/conformance-command';
import { packageHlsCommand } from './package-hls';
import { requestKeysCommand } from './request-keys';
import { isServing, serveCommand } from './serve';

/** Builds the program; `exitOverride` everywhere so main() decides the exit codes. */
function buildProgram(): Command {
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
  ];
  for (const cmd of commands) program.addCommand(cmd);
  applyRecursively(program, (cmd) => cmd.exitOverride().showHelpAfterError('(run the command with --help for usage)'));
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

/** Runs the CLI with `argv` (as process.argv) and resolves to the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return EXIT_CODES.ok;
  } catch (err) {
    const code = exitCodeOf(err);
    // Commander has already printed its own usage errors and help.
    if (!(err instanceof CommanderError)) process.stderr.write(`keyplane: ${(err as Error).message}\n`);
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
