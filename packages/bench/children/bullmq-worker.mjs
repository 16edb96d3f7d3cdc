// A BullMQ Worker as its documentation writes one, the peer of kelp-consumer.mjs: a processor
// that returns, at --concurrency. It counts the first --messages completed jobs of a cold
// process (a job is completed once BullMQ has moved it to finished in Redis), from the Worker's
// creation (connecting included).
//
//   node bullmq-worker.mjs --url URL --queue Q --messages N [--concurrency C]
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { flags, start } from './report.mjs';

const args = flags({ concurrency: { type: 'string', default: '1' } });
let completed = 0;
let sink = 0;
let finished;
const done = new Promise((resolve) => {
  finished = resolve;
});

const window = start();
const connection = new Redis(args.url, { maxRetriesPerRequest: null });
const worker = new Worker(args.queue, async (job) => {
  sink ^= job.data.seq;
}, { connection, concurrency: Number(args.concurrency) });
worker.on('completed', () => {
  completed += 1;
  if (completed === args.messages) finished();
});
await done;
window.finish(completed, { sink: sink & 1 });
await worker.close();
connection.disconnect();
