/**
 * kelp's benchmarks, usable from the CLI (`kelp bench`) and from the repository's bench runner.
 */
export { runBenchCommand, BENCH_USAGE, type BenchIo } from './command.js';
export { runWorkload, addQueueRatios, WORKLOAD_IDS, type BenchContext, type WorkloadId } from './workloads.js';
export { endToEndWorkload, backlogRssWorkload, type ProcessContext } from './e2e.js';
export { runPollingBench, CYCLES, POLL_MODES, LOADS, type PollingReport, type PollingResult } from './polling.js';
export { renderPollingReport } from './report-html.js';
export { workloadTable, pollingTable, table, num } from './format.js';
export { RedisInfoProbe, diffCounters, type RedisCounters } from './redis-info.js';
export type { WorkloadResult } from './measure.js';
export { runWorker } from './worker.js';
export * from './stats.js';
