import { describe, expect, it } from 'vitest';
import { Connection } from '../src/connection.js';
import { Consumer } from '../src/consumer.js';
import { processConcurrently } from '../src/process-concurrently.js';
import { ConfigurationError } from '../src/errors.js';
import { Exchange } from '../src/exchange.js';
import { OptionNames } from '../src/option-parsing.js';
import { ConnectionPool, PoolGroup, ProducerPool, ResourcePool } from '../src/pools.js';
import { Producer } from '../src/producer.js';
import { Queue } from '../src/queue.js';
import { SimpleQueue } from '../src/simple.js';
import { ConsumerWorker } from '../src/worker.js';
import { FakeChannel } from './helpers/fake-channel.js';
import { fakeSetup } from './helpers/fake-transport.js';

/** The ConfigurationError `fn` throws or rejects with. */
async function refusal(fn: () => unknown): Promise<ConfigurationError> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof ConfigurationError) return error;
    throw error;
  }
  throw new Error('expected a ConfigurationError');
}

const connection = (): Connection => new Connection('fake://h:1/', { registry: fakeSetup().registry });

describe('OptionNames', () => {
  const names = OptionNames.of<{ prefetchCount?: number; noAck?: boolean }>({ prefetchCount: true, noAck: true });

  it('accepts the listed names, an empty object and no options at all', () => {
    expect(() => {
      names.check({ prefetchCount: 1, noAck: true }, 'Consumer');
      names.check({}, 'Consumer');
      names.check(undefined, 'Consumer');
    }).not.toThrow();
  });

  it('refuses an unknown name with the closest accepted one and every accepted one', async () => {
    const error = await refusal(() => names.check({ noAck: true, prefetch: 1 }, 'Consumer'));
    expect(error.message).toBe('Unknown option `prefetch` for Consumer; did you mean `prefetchCount`? Accepted: noAck, prefetchCount');
    expect(error.option).toBe('prefetch');
  });

  it('suggests nothing for a name unlike any accepted one', async () => {
    const error = await refusal(() => names.check({ colour: 'red' }, 'Consumer'));
    expect(error.message).toBe('Unknown option `colour` for Consumer. Accepted: noAck, prefetchCount');
  });
});

// One misspelt option per entry point: each is refused, naming the option it was meant to be.
const entryPoints: Array<[entry: string, misspelt: string, meant: string, call: () => unknown]> = [
  ['Producer', 'routing_key', 'routingKey', () => new Producer(new FakeChannel(), { routing_key: 'jobs' } as never)],
  ['publish', 'routing_key', 'routingKey', () => new Producer(new FakeChannel()).publish({}, { routing_key: 'x' } as never)],
  ['publish', 'priorty', 'priority', () => new Producer(new FakeChannel()).publish({}, { priorty: 5 } as never)],
  ['Consumer', 'prefetch', 'prefetchCount', () => new Consumer(new FakeChannel(), new Queue('q'), { prefetch: 1 } as never)],
  ['Consumer', 'concurency', 'concurrency', () => new Consumer(new FakeChannel(), new Queue('q'), { concurency: 4 } as never)],
  ['Consumer.cancel', 'timeoutMs', 'timeout', () => new Consumer(new FakeChannel(), new Queue('q')).cancel({ timeoutMs: 1 } as never)],
  ['processConcurrently', 'concurency', 'concurrency', () => processConcurrently((async function* () {})(), () => {}, { concurency: 2 } as never)],
  ['Queue', 'autodelete', 'autoDelete', () => new Queue('q', { autodelete: true } as never)],
  ["Queue 'q' get", 'no_ack', 'noAck', () => new Queue('q', {}, new FakeChannel()).get({ no_ack: true } as never)],
  ["Queue 'q' delete", 'if_unused', 'ifUnused', () => new Queue('q', {}, new FakeChannel()).delete({ if_unused: true } as never)],
  ['Exchange', 'typ', 'type', () => new Exchange('x', { typ: 'topic' } as never)],
  ["Exchange 'x' delete", 'ifUnsued', 'ifUnused', () => new Exchange('x', {}, new FakeChannel()).delete({ ifUnsued: true } as never)],
  ['drainEvents', 'timeoutMs', 'timeout', () => connection().drainEvents({ timeoutMs: 10 } as never)],
  ['SimpleQueue', 'no_ack', 'noAck', () => new SimpleQueue(new FakeChannel(), 'q', { no_ack: true } as never)],
  ['SimpleQueue.get', 'timeoutMs', 'timeout', () => new SimpleQueue(new FakeChannel(), 'q').get({ timeoutMs: 1 } as never)],
  ['resource pool', 'limt', 'limit', () => new ResourcePool(() => 1, { limt: 2 } as never)],
  ['resource pool acquire', 'blocking', 'block', () => new ResourcePool(() => 1).acquire({ blocking: false } as never)],
  ['ConnectionPool', 'connectionOption', 'connectionOptions', () => new ConnectionPool('fake://h:1/', { connectionOption: {} } as never)],
  ['ProducerPool', 'producerOption', 'producerOptions', () => new ProducerPool(new ConnectionPool('fake://h:1/'), { producerOption: {} } as never)],
  ['Producer', 'serialiser', 'serializer', () => new ProducerPool(new ConnectionPool('fake://h:1/'), { producerOptions: { serialiser: 'json' } as never })],
  ['PoolGroup', 'limits', 'limit', () => new PoolGroup({ limits: 2 } as never)],
  ['ConsumerWorker', 'safety_interval', 'safetyInterval', () => new ConsumerWorker(connection(), { getConsumers: () => [], safety_interval: 1 } as never)],
  [
    'ConsumerWorker retryPolicy',
    'max_retries',
    'maxRetries',
    () => new ConsumerWorker(connection(), { getConsumers: () => [], retryPolicy: { max_retries: 1 } as never }),
  ],
  ['ConsumerWorker.stop', 'timout', 'timeout', () => new ConsumerWorker(connection(), { getConsumers: () => [] }).stop({ timout: 1 } as never)],
  ['Connection', 'connectTimout', 'connectTimeout', () => new Connection('fake://h:1/', { connectTimout: 1 } as never)],
  ['Connection.close', 'timout', 'timeout', () => connection().close({ timout: 1 } as never)],
  ['Connection.ensure', 'maxRetry', 'maxRetries', () => connection().ensure(async () => 1, { maxRetry: 1 } as never)],
];

describe('every entry point refuses a misspelt option with a did-you-mean', () => {
  it.each(entryPoints)('%s refuses `%s`, suggesting `%s`', async (entry, misspelt, meant, call) => {
    const error = await refusal(call);
    expect(error.message).toContain(`Unknown option \`${misspelt}\` for ${entry}`);
    expect(error.message).toContain(`did you mean \`${meant}\`?`);
  });

  it('refuses an unknown drainEvents option before connecting, so it never waits', async () => {
    const conn = connection();
    await refusal(() => conn.drainEvents({ timeoutMs: 10 } as never));
    expect(conn.state).toBe('idle');
  });

  it('publishes nothing when an option is refused', async () => {
    const channel = new FakeChannel();
    await refusal(() => new Producer(channel).publish({}, { routingKey: 'q', deliverymode: 1 } as never));
    expect(channel.published).toEqual([]);
  });
});
