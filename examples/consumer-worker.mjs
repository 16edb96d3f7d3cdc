// ConsumerWorker: a long-running worker in the spirit of Kombu's ConsumerMixin. It connects with
// backoff, builds its consumers, and after a connection loss reconnects and builds them again.
// This example handles 5 jobs and stops; a real worker runs until SIGTERM (see the signal below).
// Run: npm run build && node examples/consumer-worker.mjs [URL]
import { Connection, Consumer, ConsumerWorker, Exchange, Producer, Queue } from 'kelp';

const url = process.argv[2] ?? 'memory://';
const conn = new Connection(url); // in TypeScript: `await using conn = ...` closes it for you

const work = new Exchange('work', { type: 'direct' });
const jobs = new Queue('worker-jobs', { exchange: work, routingKey: 'job' });
const producer = new Producer(conn, { exchange: work, routingKey: 'job' });
for (let id = 1; id <= 5; id += 1) await producer.publish({ id }, { declare: [jobs] });

const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
let done = 0;

const worker = new ConsumerWorker(conn, {
  // Called on every (re)connect with a fresh channel: consumers are rebuilt, never reused.
  getConsumers: (channel) => [
    new Consumer(channel, jobs, {
      prefetchCount: 2,
      callbacks: [
        async (job, message) => {
          console.log('worker handled job', job.id);
          await message.ack();
          if ((done += 1) === 5) stop.abort();
        },
      ],
    }),
  ],
  onConnectionError: (error, seconds) => console.error(`connection lost (${error.message}); retrying in ${seconds} s`),
  onConsumeReady: () => console.log(`worker consuming from ${conn.redactedUrl}`),
});

await worker.run({ signal: stop.signal }); // resolves once stopped
console.log(`worker stopped after ${done} jobs`);
await conn.close();
