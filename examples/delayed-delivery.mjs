// Delayed delivery: `publish(body, { countdown })` (seconds) or `{ eta }` (a Date or an ISO 8601
// string). The message is routed at once and waits in the broker (on Redis in
// `_kelp.delayed.<queue>`), not in a consumer's memory; any kelp process running a Hub moves it
// into its queue when it is due. Here a reminder is due in 0.5 s and an invoice in 0.2 s: the
// consumer gets the invoice first, each no earlier than its due time, and inspect shows what
// still waits.
// Run: npm run build && node examples/delayed-delivery.mjs [URL]
import { Connection, Consumer, Producer, Queue } from 'kelp';

const url = process.argv[2] ?? 'memory://';
const conn = new Connection(url); // in TypeScript: `await using conn = ...` closes it for you
const channel = await conn.channel();
const queue = new Queue('delayed-jobs').bind(channel);
await queue.declare();

const producer = new Producer(channel, { routingKey: 'delayed-jobs' });
const reminder = await producer.publish({ job: 'reminder' }, { countdown: 0.5 });
const invoice = await producer.publish({ job: 'invoice' }, { eta: new Date(Date.now() + 200) });
await producer.publish({ job: 'report' }, { eta: new Date(Date.now() + 3_600_000).toISOString() });

const row = (await conn.transport.admin.inspect()).queues.find((q) => q.name === 'delayed-jobs');
console.log(`waiting: ${row.length}, delayed: ${row.delayed}`);

const due = new Map([
  ['reminder', reminder.deliverAt],
  ['invoice', invoice.deliverAt],
]);
const got = [];
const consumer = new Consumer(conn, [new Queue('delayed-jobs')], {
  onMessage: async (message) => {
    const { job } = message.payload;
    got.push(`${job} (${Date.now() >= due.get(job) ? 'not early' : 'EARLY'})`);
    await message.ack();
  },
});
await consumer.consume();
// The Hub runs the consumer and the delayed mover.
conn.registerWithEventLoop(conn.hub);
await conn.hub.runUntil(() => got.length === 2, { timeoutMs: 5000 });
console.log(`delivered: ${got.join(', ')}`);
await consumer.cancel();
console.log(`purged ${await queue.purge()} (the report, still delayed)`);
await conn.close();
