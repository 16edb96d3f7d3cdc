#!/usr/bin/env node
// The child process of the end-to-end benchmarks when run from bench/run.mjs: the same code as
// `kelp bench worker`, loaded from the bench build.
import { pathToFileURL } from 'node:url';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const built = join(dirname(fileURLToPath(import.meta.url)), '.build', 'drivers.mjs');
const { runBenchCommand } = await import(pathToFileURL(built).href);
process.exitCode = await runBenchCommand(['worker', ...process.argv.slice(2)], {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
