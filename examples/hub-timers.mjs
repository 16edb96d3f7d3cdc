// The Hub: kelp's event loop (Kombu's kombu.asynchronous.Hub). Register a connection with it and
// run it with runForever: consumers' deliveries, the visibility-restore sweep and health checks run
// on it, next to your own timers (callLater, callRepeatedly: MILLISECONDS, like Node's timers).
// Run: npm run build && node examples/hub-timers.mjs [URL]
import { Connection, Consumer, Hub, Queue } from 'kelp';

const url = process.argv[2] ?? 'memory://';
const conn = new Connection(url); // in TypeScript: `await using conn = ...` closes it for you
const hub = new Hub();
conn.registerWithEventLoop(hub); // the transport registers its poller and timers on this hub

const ticks = new Queue('hub-ticks');
const producer = conn.Producer();
const received = [];
const stop = new AbortController();
const consumer = new Consumer(conn, ticks, {
  callbacks: [
    async (body, message) => {
      received.push(body.n);
      await message.ack();
      if (received.length === 5) stop.abort(); // ends runForever below
    },
  ],
});
await consumer.consume(); // declares the queue; messages arrive once the hub runs

let n = 0;
// Every 100 ms publish a tick; after the fifth, the timer cancels itself through its handle.
const repeat = hub.callRepeatedly(100, () => {
  n += 1;
  if (n === 5) repeat.cancel();
  producer.publish({ n }, { routingKey: 'hub-ticks' }).catch((error) => console.error(error));
});
// A one-off timer: a safety net so the example always ends.
hub.callLater(10_000, () => stop.abort());
// onStop callbacks run each time a run loop returns (kelp's Redis poller uses it to end a
// blocking wait while nobody runs the hub).
let stops = 0;
hub.onStop(() => (stops += 1));

await hub.runForever(stop.signal); // returns when the signal aborts (or hub.stop() is called)
console.log(`published ${n} ticks, consumed ${received.join(', ')}; the loop stopped ${stops} time(s)`);
await consumer.cancel();
await conn.close();
hub.close();
