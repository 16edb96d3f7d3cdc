#!/usr/bin/env node
// The producer process of `kelp bench polling` (polling-producer.ts): a job as JSON on stdin,
// one JSON result line on stdout. It runs this package's build (dist/).
import { runProducerChild } from '../dist/index.js';

let input = '';
for await (const chunk of process.stdin) input += chunk;
try {
  await runProducerChild(input, (text) => process.stdout.write(text));
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
}
