// High availability with Redis Sentinel: one producer and one consumer keep going across a
// failover with no restart. Pass a sentinel:// URL (master name and the sentinels' password fit
// in the query) and a duration, then run `redis-cli -p 26379 SENTINEL FAILOVER mymaster` while
// it runs: the connections follow the new master by themselves and no tick is lost.
// Run: npm run build && node examples/sentinel-failover.mjs \
//   ['sentinel://:master-pw@127.0.0.1:26379/0;sentinel://127.0.0.1:26380?master_name=mymaster&sentinel_password=...'] [seconds]
// Without a URL it runs the same loop on memory:// for one second.
import { Connection, Consumer, Queue } from 'kelp';

const url = process.argv[2] ?? 'memory://';
const seconds = Number(process.argv[3] ?? 1);
const conn = new Connection(url);
conn.on('connectionLost', (error) => console.log('connection lost:', error.message));
conn.on('reconnected', () => console.log('reconnected (to the master the sentinels name now)'));

const ticks = new Queue('sentinel-ticks');
const consumed = new Set();
const consumer = new Consumer(conn, ticks, {
  prefetchCount: 10,
  onMessage: async (message) => {
    consumed.add(message.decode().tick);
    await message.ack();
  },
});
conn.registerWithEventLoop(conn.hub);
await consumer.consume();
const loop = new AbortController();
const running = conn.hub.runForever(loop.signal).catch(() => undefined);

// A second connection publishes, as another process would; retry: true carries a publish over
// the seconds the sentinels need to promote a replica.
const publisher = new Connection(url);
const producer = publisher.Producer({ routingKey: 'sentinel-ticks' });
const policy = { maxRetries: 20, intervalStart: 0.2, intervalStep: 0.2, intervalMax: 1 };
const count = Math.max(1, Math.round(seconds * 10));
for (let tick = 1; tick <= count; tick += 1) {
  await producer.publish({ tick }, { routingKey: 'sentinel-ticks', retry: true, retryPolicy: policy, declare: [ticks] });
  await new Promise((resolve) => setTimeout(resolve, 100));
}
const deadline = Date.now() + 30_000;
while (consumed.size < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
console.log(`published ${count} ticks, consumed ${consumed.size}${consumed.size === count ? ' (none lost)' : ''}`);

loop.abort();
conn.hub.stop();
await running;
await consumer.cancel();
await Promise.all([conn.close(), publisher.close()]);
