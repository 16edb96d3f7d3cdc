/**
 * Wraps a workload phase with the counters every result reports: wall time, this process's CPU
 * time, Redis command and read counts (when the URL is a Redis one) and peak RSS.
 */
import { performance } from 'node:perf_hooks';
import { diffCounters, type RedisCounters, type RedisInfoProbe } from './redis-info.js';
import type { LatencySummary } from './stats.js';

/** One row of a benchmark table. Rates are messages per second; times per message in microseconds. */
export interface WorkloadResult {
  /** Stable identifier, e.g. `consume-ack-p100`. */
  id: string;
  /** Human label, e.g. `consume+ack, prefetch 100`. */
  label: string;
  messages: number;
  seconds: number;
  rate: number;
  latencyMs?: LatencySummary;
  cpuUsPerMsg?: number;
  commandsPerMsg?: number;
  /** Server-side client reads per message: a round-trip count (a pipeline arrives as one read). */
  roundTripsPerMsg?: number;
  /** Per-command calls during the phase (from INFO commandstats). */
  commands?: Record<string, number>;
  peakRssMiB?: number;
  /** Anything workload-specific (ratios, counts). */
  extra?: Record<string, number | string | boolean>;
  /** Set when the workload could not run; the numbers are then absent. */
  error?: string;
}

export interface PhaseMeasurement {
  seconds: number;
  cpuUs: number;
  redis?: RedisCounters;
}

/** Runs `fn` and reports how long it took, the CPU it used here and what Redis saw meanwhile. */
export async function measurePhase(probe: RedisInfoProbe | undefined, fn: () => Promise<void>): Promise<PhaseMeasurement> {
  const before = probe ? await probe.read() : undefined;
  const cpu = process.cpuUsage();
  const start = performance.now();
  await fn();
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  const after = probe ? await probe.read() : undefined;
  const measurement: PhaseMeasurement = { seconds, cpuUs: used.user + used.system };
  if (before && after) {
    const redis = diffCounters(before, after);
    // The probe's own INFO (one command, one read) lands inside the diff; take it out.
    redis.commands = Math.max(redis.commands - 1, 0);
    redis.reads = Math.max(redis.reads - 1, 0);
    const info = (redis.calls['info'] ?? 0) - 1;
    if (info > 0) redis.calls['info'] = info;
    else delete redis.calls['info'];
    measurement.redis = redis;
  }
  return measurement;
}

/** Peak resident set size of this process so far, in MiB. */
export function peakRssMiB(): number {
  // resourceUsage().maxRSS is in KiB on Linux.
  return process.resourceUsage().maxRSS / 1024;
}

/** Builds a result row from a phase measurement and a message count. */
export function resultFrom(id: string, label: string, messages: number, phase: PhaseMeasurement): WorkloadResult {
  const result: WorkloadResult = {
    id,
    label,
    messages,
    seconds: phase.seconds,
    rate: phase.seconds > 0 ? messages / phase.seconds : 0,
    cpuUsPerMsg: messages > 0 ? phase.cpuUs / messages : 0,
    // No peak RSS here: maxRSS is the whole process's lifetime peak, so in a runner that ran other
    // workloads first it would describe them. The RSS rows come from fresh worker processes.
  };
  if (phase.redis && messages > 0) {
    result.commandsPerMsg = phase.redis.commands / messages;
    result.roundTripsPerMsg = phase.redis.reads / messages;
    result.commands = phase.redis.calls;
  }
  return result;
}

/** A result row for a workload that could not run, with the reason. */
export function failedResult(id: string, label: string, error: unknown): WorkloadResult {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { id, label, messages: 0, seconds: 0, rate: 0, error: message };
}
