/**
 * The cold workloads of `npm run bench:compare`: each side of each workload is a fresh process
 * (no warm-up) that counts the first messages it handles, on the same Redis as its peers. Every
 * run uses queues of its own and removes them afterwards.
 */
import { endToEndWorkload, type ProcessContext } from '../e2e.js';
import { KOMBU_SCRIPT, LATENCY_FLOOR_SCRIPT } from '../paths.js';
import { dropBullmqQueue, dropKelpQueue, dropKeys, fillBullmqQueue, fillKelpQueue } from './backlog.js';
import { runNodeChild, startChild, type Measurement } from './child.js';

export interface ColdContext extends ProcessContext {
  /** Messages counted per run (the 20,000). */
  messages: number;
  /** Messages `kelp consume` takes in the CLI workload (100,000). */
  cliMessages: number;
  /** Messages the Python Kombu consumer takes in the CLI workload (it is ~20 times slower). */
  kombuCliMessages: number;
  /** Backlogs for the peak-RSS rows. */
  backlogs: readonly number[];
  /** The Python with Kombu (Debian's /usr/bin/python3). */
  python: string;
  /** The built `kelp` executable (packages/cli/dist/kelp.js). */
  cliScript: string;
}

/** One program measured in a workload: kelp's or a peer's. */
export interface Side {
  /** Short and stable, e.g. `kelp`, `BullMQ`, `raw LPUSH`. */
  name: string;
  run(ctx: ColdContext): Promise<Measurement>;
}

export interface ColdWorkload {
  id: string;
  label: string;
  sides: readonly Side[];
}

let runs = 0;
/** A queue name no other run uses. */
function freshQueue(kind: string): string {
  runs += 1;
  return `bench.${kind}.${process.pid}.${runs}`;
}

/** Runs `fn` on a fresh queue and always removes the queue afterwards. */
async function onFreshQueue(kind: string, drop: (name: string) => Promise<void>, fn: (name: string) => Promise<Measurement>): Promise<Measurement> {
  const name = freshQueue(kind);
  try {
    return await fn(name);
  } finally {
    await drop(name).catch(() => undefined);
  }
}

interface KelpConsumerShape {
  concurrency: number;
  prefetch: number;
  settle?: 'manual' | 'outcome';
  /** Let the child publish its own backlog first (memory:// has no other way to get one). */
  prefill?: boolean;
  url?: string;
  backlog?: number;
}

/** The README-style kelp consumer (children/kelp-consumer.mjs) on a backlog of its own. */
export function kelpConsumer(name: string, shape: KelpConsumerShape): Side {
  const url = (ctx: ColdContext): string => shape.url ?? ctx.url;
  return {
    name,
    run: (ctx) =>
      onFreshQueue('kelp', (q) => (url(ctx).startsWith('memory:') ? Promise.resolve() : dropKelpQueue(url(ctx), q)), async (queue) => {
        const messages = shape.backlog ?? ctx.messages;
        if (!shape.prefill) await fillKelpQueue(url(ctx), queue, messages);
        const args = ['--url', url(ctx), '--queue', queue, '--messages', String(messages), '--concurrency', String(shape.concurrency), '--prefetch', String(shape.prefetch), '--settle', shape.settle ?? 'manual'];
        if (shape.prefill) args.push('--prefill');
        return runNodeChild('kelp-consumer.mjs', args, ctx.timeoutMs);
      }),
  };
}

/** A BullMQ Worker (children/bullmq-worker.mjs) on a backlog of its own. */
export function bullmqWorker(name: string, concurrency: number, backlog?: number): Side {
  return {
    name,
    run: (ctx) =>
      onFreshQueue('bullmq', (q) => dropBullmqQueue(ctx.url, q), async (queue) => {
        const messages = backlog ?? ctx.messages;
        await fillBullmqQueue(ctx.url, queue, messages);
        return runNodeChild('bullmq-worker.mjs', ['--url', ctx.url, '--queue', queue, '--messages', String(messages), '--concurrency', String(concurrency)], ctx.timeoutMs);
      }),
  };
}

/** Publishing awaited one at a time (children/publisher.mjs). */
function publisher(name: string, side: 'kelp' | 'bullmq' | 'lpush'): Side {
  const drop = { kelp: dropKelpQueue, bullmq: dropBullmqQueue, lpush: dropKeys }[side];
  return {
    name,
    run: (ctx) =>
      onFreshQueue(side, (q) => drop(ctx.url, q), (queue) =>
        runNodeChild('publisher.mjs', ['--side', side, '--url', ctx.url, '--queue', queue, '--messages', String(ctx.messages)], ctx.timeoutMs),
      ),
  };
}

/** The paced workload: this many msgs/s for this many seconds, all of them counted. */
const PACED_RATE = 1000;
const PACED_SECONDS = 3;

/** kelp's two-process paced run (bin/worker.mjs), with no warm-up: the first 3 s are the figures. */
const kelpPaced: Side = {
  name: 'kelp',
  run: async (ctx) => {
    const r = await endToEndWorkload(ctx, PACED_RATE, PACED_RATE * PACED_SECONDS, 0);
    if (r.error) throw new Error(r.error);
    const m: Measurement = { messages: r.messages, seconds: r.seconds, rate: r.rate };
    if (r.cpuUsPerMsg !== undefined) m.cpuUsPerMsg = r.cpuUsPerMsg;
    if (r.peakRssMiB !== undefined) m.peakRssMiB = r.peakRssMiB;
    if (r.latencyMs) m.latencyMs = { p50: r.latencyMs.p50, p99: r.latencyMs.p99 };
    return m;
  },
};

/** A consumer process and a producer process, the producer started once the consumer is ready. */
async function pacedPair(consumer: [string, string[]], producer: [string, string[]], timeoutMs: number): Promise<Measurement> {
  const c = startChild(consumer[0], consumer[1], { timeoutMs });
  await Promise.race([c.ready, c.result]);
  const p = startChild(producer[0], producer[1], { timeoutMs });
  const [measured] = await Promise.all([c.result, p.result]);
  return measured;
}

/** The floor: raw ioredis LPUSH -> BRPOP across two processes (scripts/latency-floor.mjs). */
const rawPaced: Side = {
  name: 'raw LPUSH->BRPOP',
  run: (ctx) => {
    const args = (role: string): string[] => [LATENCY_FLOOR_SCRIPT, '--role', role, ctx.url, '--rate', String(PACED_RATE), '--messages', String(PACED_RATE * PACED_SECONDS)];
    return pacedPair([process.execPath, args('consumer')], [process.execPath, args('producer')], ctx.timeoutMs);
  },
};

/** Python Kombu on both ends (peers/kombu_bench.py paced-consume / paced-publish). */
const kombuPaced: Side = {
  name: 'Kombu',
  run: (ctx) =>
    onFreshQueue('kombu', (q) => dropKelpQueue(ctx.url, `${q}.q`), (prefix) => {
      const args = (mode: string): string[] => [KOMBU_SCRIPT, ctx.url, mode, String(PACED_RATE * PACED_SECONDS), prefix, String(PACED_RATE)];
      return pacedPair([ctx.python, args('paced-consume')], [ctx.python, args('paced-publish')], ctx.timeoutMs);
    }),
};

/** `kelp consume URL --queue q --count N > /dev/null`, timed as a whole process. */
const kelpCli: Side = {
  name: 'kelp CLI',
  run: (ctx) =>
    onFreshQueue('cli', (q) => dropKelpQueue(ctx.url, q), async (queue) => {
      await fillKelpQueue(ctx.url, queue, ctx.cliMessages);
      const args = [ctx.cliScript, 'consume', ctx.url, '--queue', queue, '--count', String(ctx.cliMessages)];
      return startChild(process.execPath, args, { timeoutMs: ctx.timeoutMs, wholeProcess: { messages: ctx.cliMessages } }).result;
    }),
};

/** A plain Python Kombu consumer program on the same kind of backlog, timed as a whole process. */
const kombuCli: Side = {
  name: 'Kombu consumer',
  run: (ctx) =>
    onFreshQueue('kombu', (q) => dropKelpQueue(ctx.url, `${q}.q`), async (prefix) => {
      await fillKelpQueue(ctx.url, `${prefix}.q`, ctx.kombuCliMessages);
      const args = [KOMBU_SCRIPT, ctx.url, 'drain', String(ctx.kombuCliMessages), prefix];
      return startChild(ctx.python, args, { timeoutMs: ctx.timeoutMs, wholeProcess: { messages: ctx.kombuCliMessages } }).result;
    }),
};

/** The workloads in the order the table shows them. */
export function coldWorkloads(ctx: Pick<ColdContext, 'backlogs'>): ColdWorkload[] {
  const consumer = (c: number, p: number): ColdWorkload => ({
    id: `consumer-c${c}`,
    label: `README-style consumer, awaited ack, concurrency ${c}, prefetch ${p} (BullMQ Worker concurrency ${c})`,
    sides: [kelpConsumer('kelp', { concurrency: c, prefetch: p }), bullmqWorker('BullMQ', c)],
  });
  return [
    consumer(1, 1),
    consumer(10, 100),
    consumer(50, 100),
    consumer(100, 100),
    {
      id: 'settle-by-outcome-c50',
      label: 'settle by outcome (return acks, throw rejects), concurrency 50, prefetch 100',
      sides: [kelpConsumer('kelp', { concurrency: 50, prefetch: 100, settle: 'outcome' })],
    },
    {
      id: 'publish-serial',
      label: 'publish, awaited one at a time',
      sides: [publisher('kelp', 'kelp'), publisher('BullMQ add()', 'bullmq'), publisher('raw LPUSH', 'lpush')],
    },
    { id: 'paced-1000', label: `paced ${PACED_RATE} msgs/s for the first ${PACED_SECONDS} s, no warm-up`, sides: [kelpPaced, rawPaced, kombuPaced] },
    { id: 'cli-consume', label: '`kelp consume URL --queue q --count N > /dev/null`, whole process', sides: [kelpCli, kombuCli] },
    {
      id: 'memory-vs-redis',
      label: 'consume+ack, concurrency 100, prefetch 100, backlog published by the same process',
      sides: [kelpConsumer('memory://', { concurrency: 100, prefetch: 100, prefill: true, url: 'memory://' }), kelpConsumer('redis', { concurrency: 100, prefetch: 100, prefill: true })],
    },
    ...ctx.backlogs.map((backlog) => ({
      id: `rss-${backlog}`,
      label: `consumer peak RSS, backlog ${backlog}, concurrency 50 (kelp prefetch 100)`,
      sides: [kelpConsumer('kelp', { concurrency: 50, prefetch: 100, backlog }), bullmqWorker('BullMQ', 50, backlog)],
    })),
  ];
}
