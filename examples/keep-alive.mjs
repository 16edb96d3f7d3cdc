// Visibility keep-alive: a handler that runs longer than the visibility timeout would see its
// message restored by the sweep and delivered a second time. `keepAlive` on the consumer (or
// `message.extendVisibility(seconds)` by hand) keeps the message invisible while it is worked on.
// The visibility timeout here is 1 s and the sweep runs every 0.2 s; each handler takes 2.5 s.
// Run: npm run build && node examples/keep-alive.mjs [URL]
import { Connection, Consumer, OperationTimeoutError, Queue } from 'kelp';

const base = process.argv[2] ?? 'memory://';
const url = `${base}${base.includes('?') ? '&' : '?'}visibility_timeout=1&unacked_restore_interval=0.2`;
const conn = new Connection(url); // in TypeScript: `await using conn = ...` closes it for you
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const queue = new Queue('long-jobs');
const producer = conn.Producer();
await producer.publish({ job: 'automatic' }, { routingKey: 'long-jobs', declare: [queue] });
await producer.publish({ job: 'by hand' }, { routingKey: 'long-jobs' });

const deliveries = new Map();
const consumer = new Consumer(conn, queue, {
  prefetchCount: 1,
  keepAlive: { interval: 0.3 }, // extend every 0.3 s by the visibility timeout (1 s)
  callbacks: [
    async (body, message) => {
      deliveries.set(body.job, (deliveries.get(body.job) ?? 0) + 1);
      if (body.job === 'by hand') {
        // The same thing done by hand: push the deadline 5 s out once, then work.
        await message.extendVisibility(5);
      }
      await sleep(2500);
      await message.ack();
    },
  ],
});
await consumer.consume();
// Drive the connection (deliveries and the restore sweep) for long enough to see any redelivery.
const until = Date.now() + 6500;
while (Date.now() < until) {
  try {
    await conn.drainEvents({ timeout: 0.5 }); // seconds; throws OperationTimeoutError when idle
  } catch (error) {
    if (!(error instanceof OperationTimeoutError)) throw error;
  }
}
await consumer.cancel();

for (const [job, count] of deliveries) console.log(`${job}: delivered ${count} time(s)`);
await conn.close();
