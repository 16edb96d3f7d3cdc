/**
 * The `kelp` executable: process streams in, exit code out. The first SIGINT/SIGTERM asks the
 * running command to stop cleanly (consume finishes the message in hand and hands prefetched
 * ones back); a second one exits at once.
 */
import { runCli } from './cli.js';

const controller = new AbortController();
let signals = 0;
const onSignal = (signal: NodeJS.Signals): void => {
  signals += 1;
  if (signals > 1) process.exit(signal === 'SIGINT' ? 130 : 143);
  controller.abort(new Error(`received ${signal}`));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// A closed pipe (`kelp consume ... | head -1`) surfaces as a failed write, which the command
// handles (the message is not acked); without a listener it would crash the process instead.
process.stdout.on('error', () => undefined);

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  // A getter: touching process.stdin opens it, which only `kelp publish ... -` needs.
  get stdin() {
    return process.stdin;
  },
  signal: controller.signal,
});
process.exitCode = code;
// Do not wait for stray handles (a Redis socket in TIME_WAIT, a timer) once the work is done.
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
process.exit(code);
