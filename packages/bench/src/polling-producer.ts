/**
 * The producer of `kelp bench polling`: publishes a planned sequence of messages (polling-loads.ts)
 * to the bench queues, saturating (a window of publishes in flight) or paced (each message when
 * it is due). On a Redis URL it runs in a process of its own (`bin/polling-producer.mjs`), so its
 * CPU and event-loop time are not the consumer's; on memory:// (one process by nature) in-process.
 * Every message carries its publish time (harness TIMESTAMP_HEADER), which latency, fairness and
 * starvation are computed from.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeConnection, declareDirect, makeProducer, openConnection, publishOne, publishWindowed, type PublishSpec } from './harness.js';
import { POLLING_PRODUCER_SCRIPT } from './paths.js';
import type { PlannedMessage } from './polling-loads.js';

export interface ProducerJob {
  url: string;
  prefix: string;
  queues: number;
  maxPriority?: number;
  plan: readonly PlannedMessage[];
  /** Messages per second; 0 = saturating. */
  rate: number;
  /** Paced: a burst of this many leaves at once (polling-loads.ts dueAtMs). */
  burst: number;
  /** First sequence number (so the drain and the paced phase do not reuse numbers). */
  seqBase: number;
}

export interface ProducerResult {
  published: number;
  seconds: number;
}

function specsOf(job: ProducerJob, names: readonly string[]): PublishSpec[] {
  return job.plan.map((m, i) => {
    const spec: PublishSpec = { routingKey: names[m.queue] as string, seq: job.seqBase + i };
    if (m.priority !== undefined) spec.priority = m.priority;
    return spec;
  });
}

/** Publishes the job's plan from this process. */
export async function produce(job: ProducerJob): Promise<ProducerResult> {
  const connection = openConnection(job.url);
  try {
    const channel = await connection.channel();
    // Exchange state is process-local on virtual transports: every process declares.
    const topology = await declareDirect(channel, job.prefix, job.queues, job.maxPriority === undefined ? {} : { maxPriority: job.maxPriority });
    const producer = makeProducer(channel, topology.exchange);
    const specs = specsOf(job, topology.names);
    const start = performance.now();
    if (job.rate <= 0) {
      await publishWindowed(producer, specs, 500);
    } else {
      const pending: Promise<unknown>[] = [];
      let sent = 0;
      while (sent < specs.length) {
        const elapsed = performance.now() - start;
        const burst = Math.max(1, job.burst);
        // Whatever is due by now goes; a burst leaves whole at the time of its first message.
        const due = Math.min(specs.length, (Math.floor(Math.floor((elapsed * job.rate) / 1000) / burst) + 1) * burst);
        for (; sent < due; sent += 1) pending.push(publishOne(producer, specs[sent] as PublishSpec));
        if (pending.length >= 1000) await Promise.all(pending.splice(0));
        await sleep(1);
      }
      await Promise.all(pending);
    }
    return { published: specs.length, seconds: (performance.now() - start) / 1000 };
  } finally {
    await closeConnection(connection);
  }
}

/** A producer running somewhere: in a child process (Redis) or in this one (memory://). */
export interface RunningProducer {
  done: Promise<ProducerResult>;
}

/** Starts the job in a child process when the broker is reachable from one, else in-process. */
export function startProducer(job: ProducerJob, inProcess: boolean, timeoutMs: number): RunningProducer {
  if (inProcess) return { done: produce(job) };
  const child = spawn(process.execPath, [POLLING_PRODUCER_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
  // The plan goes over stdin: a few thousand entries would not fit a command line everywhere.
  child.stdin.end(JSON.stringify(job));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 10_000);
  const done = new Promise<ProducerResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        const parsed = JSON.parse(line) as { event?: string } & ProducerResult;
        if (code === 0 && parsed.event === 'result') return resolve({ published: parsed.published, seconds: parsed.seconds });
      } catch {
        // reported below
      }
      reject(new Error(`the producer process exited (${code}): ${stderr.trim() || line}`));
    });
  });
  done.catch(() => undefined);
  return { done };
}

/** The child side: reads a job from stdin, publishes it, prints one JSON result line. */
export async function runProducerChild(input: string, write: (text: string) => void): Promise<void> {
  const result = await produce(JSON.parse(input) as ProducerJob);
  write(`${JSON.stringify({ event: 'result', ...result })}\n`);
}
