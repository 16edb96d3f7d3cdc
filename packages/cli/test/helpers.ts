/** An in-memory CliIo for running the CLI in-process. */
import type { CliIo, OutputStream } from '../src/index.js';

export interface CapturedIo {
  io: CliIo;
  stdout(): string;
  stderr(): string;
  /** stdout split into non-empty lines. */
  lines(): string[];
}

export function captureIo(options: { stdin?: readonly string[]; signal?: AbortSignal; onStdout?: (chunk: string) => void } = {}): CapturedIo {
  const out: string[] = [];
  const err: string[] = [];
  const stream = (buffer: string[], onWrite?: (chunk: string) => void): OutputStream => ({
    isTTY: false,
    write(chunk: string, callback?: (error?: Error | null) => void): boolean {
      buffer.push(chunk);
      onWrite?.(chunk);
      callback?.();
      return true;
    },
  });
  const stdinLines = options.stdin;
  const io: CliIo = {
    stdout: stream(out, options.onStdout),
    stderr: stream(err),
    ...(stdinLines
      ? {
          stdin: (async function* () {
            // Chunks that split lines in odd places, as a pipe would.
            const text = stdinLines.join('\n');
            for (let i = 0; i < text.length; i += 7) yield new TextEncoder().encode(text.slice(i, i + 7));
          })(),
        }
      : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  return {
    io,
    stdout: () => out.join(''),
    stderr: () => err.join(''),
    lines: () => out.join('').split('\n').filter((line) => line !== ''),
  };
}
