/**
 * Where the package's scripts are, from this module's own location: `src/` when run from the
 * sources (tests), `dist/` when built; both are one level below the package directory. Keep
 * this file directly in `src/` so that the two agree.
 */
import { fileURLToPath } from 'node:url';

const inPackage = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));

/** The worker child of the end-to-end workloads; it loads this package's build (dist/). */
export const WORKER_SCRIPT = inPackage('bin/worker.mjs');
/** The producer process of `kelp bench polling`. */
export const POLLING_PRODUCER_SCRIPT = inPackage('bin/polling-producer.mjs');
/** The Python Kombu consumer of `kelp bench polling --baseline kombu`. */
export const KOMBU_POLLING_SCRIPT = inPackage('peers/kombu_polling.py');
/** The cold children of `npm run bench:compare` (kelp, BullMQ and raw ioredis programs). */
export const CHILDREN_DIR = inPackage('children/');
/** The Python Kombu peer. */
export const KOMBU_SCRIPT = inPackage('peers/kombu_bench.py');
/** The raw ioredis LPUSH -> BRPOP latency floor (also a command of its own). */
export const LATENCY_FLOOR_SCRIPT = inPackage('scripts/latency-floor.mjs');
/** Where the runners write their results. */
export const RESULTS_DIR = inPackage('results/');
