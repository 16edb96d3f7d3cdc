/**
 * @kelp/bench (private): kelp's benchmark suite, behind `kelp bench` (which imports it lazily)
 * and the repository's runners (`npm run bench`, `npm run bench:compare`).
 */
export { runBenchCommand, runWorkerCommand, WORKER_SCRIPT, BENCH_USAGE, type BenchIo } from './command.js';
export { runWorkload, addQueueRatios, WORKLOAD_IDS, type BenchContext, type WorkloadId } from './workloads.js';
export { endToEndWorkload, backlogRssWorkload, type ProcessContext } from './e2e.js';
export { runPollingBench, CYCLES, POLL_MODES, LOADS, type PollingReport, type PollingResult } from './polling.js';
export { renderPollingReport } from './report-html.js';
export { workloadTable, pollingTable, table, num } from './format.js';
export { RedisInfoProbe, diffCounters, redisClientFor, type RedisCounters } from './redis-info.js';
export type { WorkloadResult } from './measure.js';
export { runWorker } from './worker.js';
export * from './stats.js';
