// Pools: a ConnectionPool with a limit, a ProducerPool on it, LimitExceeded when it is exhausted,
// and maybeDeclare, which declares an entity once per connection (cached).
// Run: npm run build && node examples/pools.mjs [URL]
import { ConnectionPool, Exchange, LimitExceeded, ProducerPool, Queue, maybeDeclare } from 'kelp';

// memory://pools is one named in-process broker, so every pooled connection sees the same queues.
const url = process.argv[2] ?? 'memory://pools';
const connections = new ConnectionPool(url, { limit: 2 }); // connections are made lazily
const producers = new ProducerPool(connections, { producerOptions: { exchange: 'events', routingKey: 'audit' } });

const events = new Exchange('events', { type: 'direct' });
const audit = new Queue('audit', { exchange: events, routingKey: 'audit' });

// use() acquires, runs, and always releases. Five publishes share two connections: the other
// three wait for a free one (acquire blocks by default; `timeout` in seconds bounds the wait).
await Promise.all(
  [1, 2, 3, 4, 5].map((n) =>
    producers.use((producer) => producer.publish({ n }, { declare: [audit] }), { timeout: 5 }),
  ),
);
console.log(`published 5 through ${connections.limit} pooled connections`);

// Exhausted and not blocking: LimitExceeded at once.
const a = await connections.acquire();
const b = await connections.acquire();
try {
  await connections.acquire({ block: false });
} catch (error) {
  console.log('third acquire:', error instanceof LimitExceeded ? 'LimitExceeded' : error);
}

// maybeDeclare: the first call declares (true), later ones on the same channel are cached (false).
const channel = await a.defaultChannel();
console.log('maybeDeclare first:', await maybeDeclare(audit, channel), 'then:', await maybeDeclare(audit, channel));
console.log('purged', await audit.bind(channel).purge(), 'waiting messages');

connections.release(a);
connections.release(b);
await connections.close(); // closes every pooled connection
