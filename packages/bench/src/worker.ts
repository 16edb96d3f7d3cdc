/**
 * The child-process side of the end-to-end benchmarks: `kelp bench worker --role consumer|producer`.
 * A worker prints one JSON line per event on stdout (`ready`, then `result`) and nothing else,
 * so the parent can parse it; the numbers it reports are its own process's (CPU, peak RSS).
 */
import { NotFoundError } from 'kelp';
import { performance } from 'node:perf_hooks';
import { AckCounter, declareDirect, interleavedSpecs, latencyOf, makeProducer, openConnection, closeConnection, publishOne, publishWindowed, wallNow, type BenchChannel, type BenchTopology } from './harness.js';
import { peakRssMiB } from './measure.js';
import { LatencyRecorder, type LatencySummary } from './stats.js';

export interface WorkerOptions {
  role: 'consumer' | 'producer';
  url: string;
  /** Queue-name prefix shared by parent and workers. */
  prefix: string;
  queues: number;
  messages: number;
  prefetch: number;
  /** Producer: publishes in flight (unpaced). */
  concurrency: number;
  /** Producer: messages per second, 0 = as fast as possible. */
  rate: number;
  /**
   * Paced runs: messages sent first, at the same rate, to warm up both processes (connections,
   * JIT) and left out of the latency figures; the consumer also waits for their acks.
   */
  warmup: number;
  timeoutMs: number;
  transportOptions?: Record<string, unknown>;
}

export interface ConsumerReport {
  event: 'result';
  role: 'consumer';
  received: number;
  acked: number;
  timedOut: boolean;
  /** Wall-clock ms of the first and the last delivery. */
  firstAt: number;
  lastAt: number;
  latencyMs: LatencySummary;
  cpuUs: number;
  peakRssMiB: number;
  /** V8 heap and off-heap memory at the end, to tell where a high RSS comes from. */
  memoryMiB: { heapTotal: number; heapUsed: number; external: number; arrayBuffers: number };
}

export interface ProducerReport {
  event: 'result';
  role: 'producer';
  published: number;
  startedAt: number;
  finishedAt: number;
  cpuUs: number;
  peakRssMiB: number;
}

export type WorkerReport = ConsumerReport | ProducerReport;

type Emit = (line: Record<string, unknown>) => void;

async function runConsumer(options: WorkerOptions, emit: Emit): Promise<void> {
  const connection = openConnection(options.url, options.transportOptions ? { transportOptions: options.transportOptions } : {});
  try {
    const channel = await connection.channel();
    // Exchange state is process-local on virtual transports (docs/wire-format.md#exchange-state),
    // so each process declares.
    const topology = await declareDirect(channel, options.prefix, options.queues);
    const latencies = new LatencyRecorder();
    let firstAt = 0;
    let lastAt = 0;
    const counter = new AckCounter();
    const cpu = process.cpuUsage();
    await counter.attach(channel, topology, {
      prefetch: options.prefetch,
      observer: {
        onMessage(message, _queue, now) {
          const latency = latencyOf(message, now);
          if (latency === undefined) return; // a warm-up message
          if (firstAt === 0) firstAt = now;
          lastAt = now;
          latencies.record(latency);
        },
      },
    });
    emit({ event: 'ready', role: 'consumer' });
    const done = await counter.waitFor(connection, options.messages + options.warmup, options.timeoutMs);
    const used = process.cpuUsage(cpu);
    await counter.cancelAll();
    const report: ConsumerReport = {
      event: 'result',
      role: 'consumer',
      received: counter.received,
      acked: counter.acked,
      timedOut: !done,
      firstAt,
      lastAt,
      latencyMs: latencies.summary(),
      cpuUs: used.user + used.system,
      peakRssMiB: peakRssMiB(),
      memoryMiB: memoryMiB(),
    };
    emit({ ...report });
  } finally {
    await closeConnection(connection);
  }
}

function memoryMiB(): ConsumerReport['memoryMiB'] {
  const m = process.memoryUsage();
  const mib = (n: number): number => Math.round((n / 2 ** 20) * 10) / 10;
  return { heapTotal: mib(m.heapTotal), heapUsed: mib(m.heapUsed), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers) };
}

async function paced(options: WorkerOptions, total: number, publish: (seq: number) => Promise<unknown>): Promise<void> {
  const start = performance.now();
  const pending: Promise<unknown>[] = [];
  let sent = 0;
  while (sent < total) {
    // Publish whatever is due by now, then sleep a timer tick: the schedule, not the timer, sets the rate.
    const due = Math.min(total, Math.floor(((performance.now() - start) * options.rate) / 1000) + 1);
    while (sent < due) {
      pending.push(publish(sent));
      sent += 1;
    }
    if (pending.length >= 1000) await Promise.all(pending.splice(0));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
}

async function runProducer(options: WorkerOptions, emit: Emit): Promise<void> {
  const connection = openConnection(options.url, options.transportOptions ? { transportOptions: options.transportOptions } : {});
  try {
    const channel = await connection.channel();
    const topology = await declareDirect(channel, options.prefix, options.queues);
    const producer = makeProducer(channel, topology.exchange);
    emit({ event: 'ready', role: 'producer' });
    const counts = Array.from({ length: options.queues }, (_, i) =>
      Math.floor(options.messages / options.queues) + (i < options.messages % options.queues ? 1 : 0),
    );
    const specs = interleavedSpecs(topology.names, counts);
    const warmupSpec = (seq: number) => ({ routingKey: topology.names[seq % topology.names.length] as string, seq, warmup: true });
    if (options.rate === 0 && options.warmup > 0) {
      // Saturated: the warm-up goes through both processes (JIT, connections, buffers) and the
      // measured phase starts only once the consumer has taken all of it.
      await publishWindowed(producer, Array.from({ length: options.warmup }, (_, n) => warmupSpec(n)), options.concurrency);
      await untilTaken(channel, topology, options.timeoutMs);
    }
    const cpu = process.cpuUsage();
    const startedAt = wallNow();
    if (options.rate > 0) {
      await paced(options, options.warmup + options.messages, (n) =>
        publishOne(producer, n < options.warmup ? warmupSpec(n) : (specs[n - options.warmup] ?? { routingKey: topology.names[0] as string, seq: n })),
      );
    } else {
      await publishWindowed(producer, specs, options.concurrency);
    }
    const finishedAt = wallNow();
    const used = process.cpuUsage(cpu);
    const report: ProducerReport = {
      event: 'result',
      role: 'producer',
      published: options.messages,
      startedAt,
      finishedAt,
      cpuUs: used.user + used.system,
      peakRssMiB: peakRssMiB(),
    };
    emit({ ...report });
  } finally {
    await closeConnection(connection);
  }
}

/** Resolves once every queue of `topology` is empty (the consumer has taken what was sent). */
async function untilTaken(channel: BenchChannel, topology: BenchTopology, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    let left = 0;
    for (const queue of topology.queues) left += await messageCount(queue, channel);
    if (left === 0) return;
    if (performance.now() > deadline) throw new Error(`the consumer left ${left} warm-up messages within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A passive declare; on Redis an emptied queue's list is gone and Kombu then says not found. */
async function messageCount(queue: BenchTopology['queues'][number], channel: BenchChannel): Promise<number> {
  try {
    return (await queue.queueDeclare({ passive: true, channel })).messageCount;
  } catch (error) {
    if (error instanceof NotFoundError) return 0;
    throw error;
  }
}

/** Runs one worker role to completion, writing its JSON lines through `write`. */
export async function runWorker(options: WorkerOptions, write: (text: string) => void): Promise<void> {
  const emit: Emit = (line) => write(`${JSON.stringify(line)}\n`);
  if (options.role === 'consumer') await runConsumer(options, emit);
  else await runProducer(options, emit);
}

/** Worker options as command-line flags (the inverse of the worker's argument parsing). */
export function workerArgs(options: WorkerOptions): string[] {
  const args = [
    '--role', options.role,
    '--url', options.url,
    '--prefix', options.prefix,
    '--queues', String(options.queues),
    '--messages', String(options.messages),
    '--prefetch', String(options.prefetch),
    '--concurrency', String(options.concurrency),
    '--rate', String(options.rate),
    '--warmup', String(options.warmup),
    '--timeout-ms', String(options.timeoutMs),
  ];
  if (options.transportOptions) args.push('--transport-options', JSON.stringify(options.transportOptions));
  return args;
}
