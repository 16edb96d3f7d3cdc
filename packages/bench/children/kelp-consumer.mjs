// A kelp consumer written the way the README writes one: a callback that awaits its ack (or,
// with --settle outcome, a callback whose return acks), on a Hub the program runs itself. It
// counts the first --messages acked messages of a cold process, from the consumer's creation
// (connecting included) to the moment they are all settled.
//
//   node kelp-consumer.mjs --url URL --queue Q --messages N [--concurrency C] [--prefetch P]
//                          [--settle manual|outcome] [--prefill]
// --prefill publishes the N messages from this process first, unmeasured: the only way to
// give an in-process broker (memory://) a backlog.
import { Connection, Consumer, Exchange, Hub, Queue } from 'kelp';
import { body, flags, start } from './report.mjs';

const args = flags({
  concurrency: { type: 'string', default: '1' },
  prefetch: { type: 'string', default: '1' },
  settle: { type: 'string', default: 'manual' },
  prefill: { type: 'boolean', default: false },
});
if (args.settle !== 'manual' && args.settle !== 'outcome') throw new Error(`--settle must be manual or outcome, got ${args.settle}`);
const concurrency = Number(args.concurrency);
const conn = new Connection(args.url);
const exchange = new Exchange(`${args.queue}.x`, { type: 'direct', durable: false });
const queue = new Queue(args.queue, { exchange, routingKey: args.queue, durable: false });

if (args.prefill) {
  const producer = conn.Producer({ exchange, routingKey: args.queue });
  for (let sent = 0; sent < args.messages; sent += 1000) {
    const batch = Array.from({ length: Math.min(1000, args.messages - sent) }, (_, i) => producer.publish(body(sent + i), { declare: [queue] }));
    await Promise.all(batch);
  }
}

const hub = new Hub();
conn.registerWithEventLoop(hub);
const stop = new AbortController();
let settled = 0;
let sink = 0;
const counted = () => {
  settled += 1;
  if (settled === args.messages) stop.abort();
};
const callbacks =
  args.settle === 'outcome'
    ? [async (payload) => { sink ^= payload.seq; counted(); }]
    : [async (payload, message) => { sink ^= payload.seq; await message.ack(); counted(); }];

const window = start();
// Concurrency and settle-by-outcome are named only when asked for, so that concurrency 1 runs
// the consumer exactly as a program that never heard of them.
const consumer = new Consumer(conn, queue, {
  callbacks,
  prefetchCount: Number(args.prefetch),
  ...(concurrency !== 1 ? { concurrency } : {}),
  ...(args.settle === 'outcome' ? { settleByOutcome: true } : {}),
});
await consumer.consume();
await hub.runForever(stop.signal);
await consumer.cancel();
window.finish(settled, { sink: sink & 1 });
await conn.close();
hub.close();
