/** The child processes the fault tests bundle (see test/setup/child-bundle.ts). */
import { join } from 'node:path';
import { bundleChild, repoRoot, type ChildBundle } from '../../setup/child-bundle.js';

export { repoRoot };
export type Bundle = ChildBundle;

/** Bundles `entry` (absolute path) into a private .mjs for this test process. */
export const bundle = (entry: string, name: string): Promise<Bundle> => bundleChild({ entry }, name);

export const consumerWorkerEntry = join(repoRoot, 'test', 'faults', 'support', 'consumer-worker.ts');
export const cliEntry = join(repoRoot, 'packages', 'cli', 'src', 'main.ts');
