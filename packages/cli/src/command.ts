/** The shape every `kelp <command>` module exports, and what it is given to run. */
import { Connection } from 'kelp';
import type { CommandSpec, ParsedArgs } from './args.js';
import type { CliIo } from './output.js';

export interface CommandContext {
  io: CliIo;
  args: ParsedArgs;
  /** Aborted on SIGINT/SIGTERM (never aborted when the caller gave no signal). */
  signal: AbortSignal;
}

export interface Command {
  spec: CommandSpec;
  /** Resolves with the exit code; throws for errors, which the dispatcher prints as one line. */
  run(context: CommandContext): Promise<number>;
}

/**
 * Opens a connection and runs `fn` with it, closing it afterwards whatever happens: closing
 * is what hands prefetched, unacked messages back to their queues.
 */
export async function withConnection<T>(
  url: string,
  signal: AbortSignal,
  fn: (connection: Connection) => Promise<T>,
): Promise<T> {
  const connection = new Connection(url);
  try {
    await connection.connect({ signal });
    return await fn(connection);
  } finally {
    await connection.close();
  }
}
