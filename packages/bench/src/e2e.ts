/**
 * End-to-end workloads across processes: a producer and a consumer, each in its own child
 * process, on one broker. Saturated (producer as fast as it can) and paced (a fixed rate, for
 * latency), plus the consumer's peak RSS over backlogs of growing size.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { benchPrefix, declareDirect, interleavedSpecs, makeProducer, openConnection, closeConnection, publishWindowed, dropTopology } from './harness.js';
import { diffCounters } from './redis-info.js';
import { failedResult, type WorkloadResult } from './measure.js';
import type { BenchContext } from './workloads.js';
import { workerArgs, type ConsumerReport, type ProducerReport, type WorkerOptions, type WorkerReport } from './worker.js';

export interface ProcessContext extends BenchContext {
  /** How to start a worker: the program and its leading arguments (worker flags are appended). */
  workerCommand: readonly string[];
}

interface RunningWorker {
  ready: Promise<void>;
  result: Promise<WorkerReport>;
  kill(): void;
}

/** Starts a worker process and exposes its `ready` and `result` lines as promises. */
export function startWorker(command: readonly string[], options: WorkerOptions): RunningWorker {
  const [program, ...lead] = command;
  if (!program) throw new Error('workerCommand is empty');
  const child = spawn(program, [...lead, ...workerArgs(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  let onReady: () => void = () => undefined;
  let onResult: (report: WorkerReport) => void = () => undefined;
  let onFail: (error: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    child.once('exit', (code) => reject(new Error(`${options.role} worker exited (${code}) before it was ready: ${stderr.trim()}`)));
  });
  const result = new Promise<WorkerReport>((resolve, reject) => {
    onResult = resolve;
    onFail = reject;
  });
  child.once('exit', (code) => onFail(new Error(`${options.role} worker exited (${code}) without a result: ${stderr.trim()}`)));
  child.once('error', (error) => onFail(error));
  createInterface({ input: child.stdout }).on('line', (line) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return; // not a protocol line
    }
    const event = (parsed as { event?: unknown }).event;
    if (event === 'ready') onReady();
    else if (event === 'result') onResult(parsed as WorkerReport);
  });
  // A rejection nobody awaits yet (e.g. ready failing while we wait for result) must not crash the parent.
  ready.catch(() => undefined);
  result.catch(() => undefined);
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs + 10_000);
  child.once('exit', () => clearTimeout(timer));
  return { ready, result, kill: () => child.kill('SIGKILL') };
}

function baseOptions(ctx: ProcessContext, prefix: string, role: 'consumer' | 'producer'): WorkerOptions {
  const options: WorkerOptions = {
    role,
    url: ctx.url,
    prefix,
    queues: 1,
    messages: ctx.messages,
    prefetch: 100,
    concurrency: ctx.concurrency,
    rate: 0,
    warmup: 0,
    timeoutMs: ctx.timeoutMs,
  };
  if (ctx.transportOptions) options.transportOptions = ctx.transportOptions;
  return options;
}

/** Saturated runs first send this many warm-up messages through both processes (fewer if the run is shorter). */
export const SATURATED_WARMUP = 10_000;

/**
 * Paced runs first send this many seconds of warm-up messages at the same rate (fewer if the run
 * is shorter). A fresh producer/consumer pair settles slowly on a small machine: without any, the
 * first ~40 deliveries took 8-40 ms; after one second, deliveries of 2-5 ms still came in bursts
 * every 20-50 ms for about two more seconds (compiling, on 2 cores shared with Redis), not later.
 * p99 of 5,000 paced messages after 1 / 2 / 3 / 5 s of warm-up: 1.74-2.75 / 1.29-1.30 /
 * 0.75-0.97 / 0.87-0.89 ms (p50 about the same throughout).
 */
export const PACED_WARMUP_SECONDS = 3;

/**
 * Producer and consumer in two processes; `rate` 0 = saturated, otherwise msgs/s for latency.
 * `warmup` overrides the warm-up messages sent first (0 measures the processes cold).
 */
export async function endToEndWorkload(ctx: ProcessContext, rate: number, messages = ctx.messages, warmup?: number): Promise<WorkloadResult> {
  const id = rate > 0 ? `e2e-paced-${rate}` : 'e2e-saturated';
  const label = rate > 0 ? `end-to-end, 2 processes, paced ${rate} msgs/s` : 'end-to-end, 2 processes, saturated';
  if (!ctx.probe) return failedResult(id, label, new Error('needs a broker outside this process (a redis:// URL)'));
  const prefix = benchPrefix();
  // Warm-up messages first (connections, JIT), left out of every figure but CPU. Paced: up to
  // PACED_WARMUP_SECONDS of them at the same rate. Saturated: up to SATURATED_WARMUP, all taken by
  // the consumer before the measured publishing starts (a 20,000-message run measured cold spent
  // about half its time in the first few thousand messages).
  const warmupMessages = warmup ?? Math.min(messages, rate > 0 ? rate * PACED_WARMUP_SECONDS : SATURATED_WARMUP);
  const workers: RunningWorker[] = [];
  try {
    const consumer = startWorker(ctx.workerCommand, { ...baseOptions(ctx, prefix, 'consumer'), messages, warmup: warmupMessages });
    workers.push(consumer);
    await consumer.ready;
    const before = await ctx.probe.read();
    const producer = startWorker(ctx.workerCommand, { ...baseOptions(ctx, prefix, 'producer'), messages, rate, warmup: warmupMessages });
    workers.push(producer);
    const [c, p] = (await Promise.all([consumer.result, producer.result])) as [ConsumerReport, ProducerReport];
    const redis = diffCounters(before, await ctx.probe.read());
    // Paced: from the first measured delivery on (the warm-up came before it).
    const measured = c.acked - warmupMessages;
    const seconds = (c.lastAt - (rate > 0 ? c.firstAt : p.startedAt)) / 1000;
    const result: WorkloadResult = {
      id,
      label,
      messages: measured,
      seconds,
      rate: seconds > 0 ? measured / seconds : 0,
      latencyMs: c.latencyMs,
      cpuUsPerMsg: c.acked > 0 ? c.cpuUs / c.acked : 0,
      commandsPerMsg: c.acked > 0 ? redis.commands / c.acked : 0,
      roundTripsPerMsg: c.acked > 0 ? redis.reads / c.acked : 0,
      commands: redis.calls,
      peakRssMiB: c.peakRssMiB,
      extra: {
        producerCpuUsPerMsg: p.published > 0 ? p.cpuUs / p.published : 0,
        producerRate: p.finishedAt > p.startedAt ? (p.published * 1000) / (p.finishedAt - p.startedAt) : 0,
        complete: !c.timedOut && c.acked === messages + warmupMessages,
      },
    };
    result.extra = { ...result.extra, warmupMessages, ...(rate > 0 ? { targetRate: rate } : {}) };
    return result;
  } catch (error) {
    for (const worker of workers) worker.kill();
    return failedResult(id, label, error);
  }
}

/**
 * Peak RSS of a fresh consumer process draining a prefilled backlog of `backlog` messages
 * (prefetch 100). The target is a flat line: memory must not grow with the backlog.
 */
export async function backlogRssWorkload(ctx: ProcessContext, backlog: number): Promise<WorkloadResult> {
  const id = `rss-backlog-${backlog}`;
  const label = `consumer peak RSS, backlog ${backlog}`;
  if (!ctx.probe) return failedResult(id, label, new Error('needs a broker outside this process (a redis:// URL)'));
  const prefix = benchPrefix();
  const connection = openConnection(ctx.url, ctx.transportOptions ? { transportOptions: ctx.transportOptions } : {});
  try {
    const channel = await connection.channel();
    const topology = await declareDirect(channel, prefix, 1);
    const producer = makeProducer(channel, topology.exchange);
    // Prefill in slices so the parent never holds the whole backlog's promises at once.
    for (let done = 0; done < backlog; done += 10_000) {
      const n = Math.min(10_000, backlog - done);
      await publishWindowed(producer, interleavedSpecs(topology.names, [n]), ctx.concurrency);
    }
    const worker = startWorker(ctx.workerCommand, { ...baseOptions(ctx, prefix, 'consumer'), messages: backlog });
    const report = (await worker.result) as ConsumerReport;
    await dropTopology(channel, topology);
    const seconds = (report.lastAt - report.firstAt) / 1000;
    return {
      id,
      label,
      messages: report.acked,
      seconds,
      rate: seconds > 0 ? report.acked / seconds : 0,
      cpuUsPerMsg: report.acked > 0 ? report.cpuUs / report.acked : 0,
      peakRssMiB: report.peakRssMiB,
      extra: {
        backlog,
        complete: !report.timedOut && report.acked === backlog,
        heapTotalMiB: report.memoryMiB.heapTotal,
        heapUsedMiB: report.memoryMiB.heapUsed,
        externalMiB: report.memoryMiB.external,
      },
    };
  } catch (error) {
    return failedResult(id, label, error);
  } finally {
    await closeConnection(connection);
  }
}
