/**
 * @kelp/bench (private): kelp's benchmark suite, behind `kelp bench` (which imports it lazily)
 * and the repository's runners (`npm run bench`, `npm run bench:compare`).
 */
export { runBenchCommand, runWorkerCommand, BENCH_USAGE, type BenchIo } from './command.js';
export { WORKER_SCRIPT, POLLING_PRODUCER_SCRIPT, KOMBU_POLLING_SCRIPT, CHILDREN_DIR, KOMBU_SCRIPT, LATENCY_FLOOR_SCRIPT, RESULTS_DIR } from './paths.js';
export { runWorkload, addQueueRatios, WORKLOAD_IDS, type BenchContext, type WorkloadId } from './workloads.js';
export { endToEndWorkload, backlogRssWorkload, type ProcessContext } from './e2e.js';
export { runPollingBench, CYCLES, POLL_MODES, BASELINES, type PollingReport, type PollingResult } from './polling.js';
export { runProducerChild } from './polling-producer.js';
export { comparePollingReports, readPollingReport, type PollingComparison } from './polling-compare.js';
export { renderPollingReport, renderComparisonReport } from './report-html.js';
export { workloadTable, pollingTable, table, num } from './format.js';
export { RedisInfoProbe, diffCounters, redisClientFor, type RedisCounters } from './redis-info.js';
export type { WorkloadResult } from './measure.js';
export { runWorker } from './worker.js';
export * from './stats.js';
export { coldWorkloads, type ColdContext, type ColdWorkload, type Side } from './cold/workloads.js';
export { compareCold, medianOf, type SideResult, type WorkloadComparison } from './cold/compare.js';
export { checkTargets as checkColdTargets, TARGETS as COLD_TARGETS, type TargetCheck } from './cold/targets.js';
export { coldTables, sideRows, targetRows, SIDE_HEADERS, TARGET_HEADERS } from './cold/report.js';
export type { Measurement } from './cold/child.js';
