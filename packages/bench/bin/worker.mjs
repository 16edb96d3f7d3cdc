#!/usr/bin/env node
// The child process of the end-to-end workloads (a producer or a consumer, `--role`), started
// by the parent with the flags of `workerArgs`. It runs this package's build (dist/).
import { runWorkerCommand } from '../dist/index.js';

process.exitCode = await runWorkerCommand(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
