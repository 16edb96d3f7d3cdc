/**
 * Turning any failure into exactly one line on stderr and an exit code. A CLI user should never
 * see a stack trace: usage mistakes exit 2, everything that went wrong while running exits 1.
 * `KELP_DEBUG=1` prints the stack as well, for bug reports.
 */
import { ConfigurationError, ContentError, KelpError } from 'kelp';

export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

/** A mistake in the command line itself (unknown flag, missing value, value out of range). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A runtime failure the CLI detected itself (e.g. a message was unroutable, messages were lost). */
export class CommandFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandFailed';
  }
}

/** The operation is valid but the transport in use cannot do it (yet). */
export class NotSupportedError extends CommandFailed {}

/** Exit code for an error: 2 when the input was wrong (flags, options, URL, body), else 1. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return EXIT_USAGE;
  // Bad URLs and options are input mistakes even when the library is the one that notices.
  if (isInstance(error, ConfigurationError)) return EXIT_USAGE;
  // A body the serializer cannot encode is bad input too; a body that cannot be decoded is not
  // (that is a message already in the broker), but consume handles those per message.
  if (isInstance(error, ContentError)) return EXIT_USAGE;
  return EXIT_RUNTIME;
}

/** One line, no stack: `kelp: error: <what went wrong>`. */
export function formatError(error: unknown): string {
  return `kelp: error: ${describe(error)}`;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return oneLine(String(error));
  let text = oneLine(error.message) || error.name;
  if (!(error instanceof UsageError) && !(error instanceof CommandFailed) && !isInstance(error, KelpError)) {
    // A raw Node/driver error: its name helps (ECONNREFUSED, TypeError ...).
    const code = (error as { code?: unknown }).code;
    text = `${typeof code === 'string' ? code : error.name}: ${text}`;
  }
  const cause = error.cause;
  if (cause instanceof Error && cause.message && !text.includes(oneLine(cause.message))) {
    text += ` (${oneLine(cause.message)})`;
  }
  return text;
}

/**
 * Only the first line: ChannelClosedError appends where the channel was closed, which is a
 * stack, and Node's parseArgs messages wrap hints onto more lines.
 */
export function oneLine(text: string): string {
  const first = text.split('\n', 1)[0] ?? '';
  return first.replace(/\s+/g, ' ').trim();
}

/**
 * `instanceof` that survives the class being undefined: the library packages are written in
 * parallel with the CLI, and an error mapper must never be the thing that throws.
 */
function isInstance(value: unknown, ctor: unknown): boolean {
  return typeof ctor === 'function' && value instanceof (ctor as abstract new (...args: never[]) => unknown);
}
