// Retries and failover. A Connection takes a list of broker URLs and moves to the next one when a
// connection attempt fails; ensureConnection / ensure / publish({ retry }) follow a retry policy
// in SECONDS, as Kombu's (intervalStart, intervalStep, intervalMax, maxRetries).
// The first URL below points at a port nothing listens on, so kelp fails over to the second.
// Run: npm run build && node examples/retry-failover.mjs [URL]   (URL replaces the fallback)
import { Connection, OperationalError, Queue } from 'kelp';

const fallback = process.argv[2] ?? 'memory://failover';
const conn = new Connection(['redis://127.0.0.1:1/0', fallback], {
  failoverStrategy: 'round-robin', // or 'shuffle'
  connectTimeout: 2, // seconds per attempt
});
conn.on('connectionLost', (error) => console.log('connectionLost:', error.message));
conn.on('reconnected', () => console.log('reconnected'));

const policy = { maxRetries: 3, intervalStart: 0.1, intervalStep: 0.2, intervalMax: 1 };
await conn.ensureConnection({
  ...policy,
  onError: (error, seconds) => console.log(`connect failed (${error.message}); next try in ${seconds} s`),
});
console.log('connected to', conn.currentUrl);

// ensure(fn): run fn with the default channel; on a connection error (an OperationalError, or
// what the transport classifies as one) reconnect under the policy and run fn again. As in Kombu,
// an error that comes back right after a successful reconnect is thrown, not retried again.
let attempts = 0;
const queue = new Queue('retry-example');
const declared = await conn.ensure(
  async (channel) => {
    attempts += 1;
    if (attempts === 1) throw new OperationalError(`simulated dropped link (attempt ${attempts})`);
    await queue.bind(channel).declare();
    return queue.name;
  },
  { ...policy, onError: (error, seconds) => console.log(`ensure: ${error.message}; retrying in ${seconds} s`) },
);
console.log(`ensure declared ${declared} after ${attempts} attempts`);

// publish({ retry: true }) runs the publish through ensure with this policy: during an outage it
// either succeeds after a reconnect or rejects with OperationalError once the policy gives up.
const result = await conn.Producer().publish({ n: 1 }, { routingKey: 'retry-example', retry: true, retryPolicy: policy });
console.log('publish:', result.status, result.queues);
await conn.close();
