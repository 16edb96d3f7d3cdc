/**
 * `kelp <command> ...`: finds the command, parses its flags and turns whatever happens into an
 * exit code and, for errors, exactly one line on stderr.
 */
import { commandHelp, parseCommand } from './args.js';
import type { Command } from './command.js';
import { benchCommand } from './commands/bench.js';
import { consumeCommand } from './commands/consume.js';
import { dashboardCommand } from './commands/dashboard.js';
import { deadLettersCommand } from './commands/dead-letters.js';
import { demoCommand } from './commands/demo.js';
import { inspectCommand } from './commands/inspect.js';
import { publishCommand } from './commands/publish.js';
import { purgeCommand } from './commands/purge.js';
import { restoreCommand } from './commands/restore.js';
import { EXIT_OK, EXIT_USAGE, exitCodeFor, formatError, UsageError } from './errors.js';
import type { CliIo } from './output.js';
import { VERSION } from './version.js';

export const commands: readonly Command[] = [
  demoCommand,
  publishCommand,
  consumeCommand,
  purgeCommand,
  inspectCommand,
  restoreCommand,
  deadLettersCommand,
  dashboardCommand,
  benchCommand,
];

/** Runs the CLI with `argv` (the words after `kelp`) and resolves with the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (error) {
    io.stderr.write(`${formatError(error)}\n`);
    if (process.env['KELP_DEBUG'] && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
    return exitCodeFor(error);
  }
}

async function dispatch(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    io.stdout.write(`kelp ${VERSION}\n`);
    return EXIT_OK;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = rest[0] && commands.find((c) => c.spec.name === rest[0]);
    io.stdout.write(topic ? commandHelp(topic.spec) : mainHelp());
    return EXIT_OK;
  }
  if (name === undefined) throw new UsageError('missing command (try kelp --help)');
  const command = commands.find((c) => c.spec.name === name);
  if (!command) {
    const hint = name.startsWith('-') ? `unknown option ${name}` : `unknown command '${name}'`;
    throw new UsageError(`${hint} (commands: ${commands.map((c) => c.spec.name).join(', ')}; try kelp --help)`);
  }
  const args = parseCommand(command.spec, rest);
  if (args.help) {
    io.stdout.write(commandHelp(command.spec));
    return EXIT_OK;
  }
  return command.run({ io, args, signal: io.signal ?? new AbortController().signal });
}

export function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.spec.name.length)) + 2;
  const lines = [
    `kelp ${VERSION}: Kombu-style messaging for Node.js (memory:// and Redis, wire-compatible with Python Kombu)`,
    '',
    'Usage: kelp <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.spec.name.padEnd(width)}${c.spec.brief}`),
    '',
    'Every command takes --json (machine-readable output) and --help.',
    'Durations are in seconds. Exit codes: 0 ok, 1 runtime failure, 2 bad usage.',
    'Run `kelp <command> --help` for its options.',
  ];
  return `${lines.join('\n')}\n`;
}
