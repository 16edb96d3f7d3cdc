/**
 * @kelp/cli: the `kelp` command. `runCli` runs it in-process (for tests and embedding);
 * `main.ts` is the executable entry that wires it to the process.
 */
export { runCli, commands, mainHelp } from './cli.js';
export type { CliIo, OutputStream } from './output.js';
export { VERSION } from './version.js';
