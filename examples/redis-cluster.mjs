// Redis Cluster in single-slot mode: one producer and one consumer keep going while the hash-tag
// slot moves (`redis-cli --cluster reshard`) or its master fails over, with no restart. Pass a
// cluster URL with the key prefix in the query and a duration in seconds; kelp finds the master
// of the `{kelp}` slot from the seed nodes and follows it by itself.
// Run: npm run build && node examples/redis-cluster.mjs \
//   ['rediscluster://:pw@127.0.0.1:7000;rediscluster://127.0.0.1:7001?global_keyprefix=%7Bkelp%7D:'] [seconds]
// Without a URL it runs the same loop on memory:// for one second.
import { Connection, Consumer, Queue } from 'kelp';

const url = process.argv[2] ?? 'memory://';
const seconds = Number(process.argv[3] ?? 1);
const conn = new Connection(url);
conn.on('connectionLost', (error) => console.log('connection lost:', error.message));
conn.on('reconnected', () => console.log('reconnected (to the master of the slot now)'));

const ticks = new Queue('cluster-ticks');
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
// a failover (the replica takes over after cluster-node-timeout) or a slot migration.
const publisher = new Connection(url);
const producer = publisher.Producer({ routingKey: 'cluster-ticks' });
const policy = { maxRetries: 20, intervalStart: 0.2, intervalStep: 0.2, intervalMax: 1 };
const count = Math.max(1, Math.round(seconds * 10));
for (let tick = 1; tick <= count; tick += 1) {
  await producer.publish({ tick }, { routingKey: 'cluster-ticks', retry: true, retryPolicy: policy, declare: [ticks] });
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
