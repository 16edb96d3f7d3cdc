import { describe, expect, it } from 'vitest';
import { Connection } from '../src/connection.js';
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
const entryPoints: Array<[entry: string, call: () => unknown, misspelt: string, meant: string]> = [
  ['Producer', () => new Producer(new FakeChannel(), { routing_key: 'jobs' } as never), 'routing_key', 'routingKey'],
  ['publish', () => new Producer(new FakeChannel()).publish({}, { routing_key: 'x' } as never), 'routing_key', 'routingKey'],
  ['publish', () => new Producer(new FakeChannel()).publish({}, { priorty: 5 } as never), 'priorty', 'priority'],
  ['Queue', () => new Queue('q', { autodelete: true } as never), 'autodelete', 'autoDelete'],
  ["Queue 'q' get", () => new Queue('q', {}, new FakeChannel()).get({ no_ack: true } as never), 'no_ack', 'noAck'],
  ["Queue 'q' delete", () => new Queue('q', {}, new FakeChannel()).delete({ if_unused: true } as never), 'if_unused', 'ifUnused'],
  ['Exchange', () => new Exchange('x', { typ: 'topic' } as never), 'typ', 'type'],
  ["Exchange 'x' delete", () => new Exchange('x', {}, new FakeChannel()).delete({ ifUnsued: true } as never), 'ifUnsued', 'ifUnused'],
  ['drainEvents', () => connection().drainEvents({ timeoutMs: 10 } as never), 'timeoutMs', 'timeout'],
  ['SimpleQueue', () => new SimpleQueue(new FakeChannel(), 'q', { no_ack: true } as never), 'no_ack', 'noAck'],
  ['SimpleQueue.get', () => new SimpleQueue(new FakeChannel(), 'q').get({ timeoutMs: 1 } as never), 'timeoutMs', 'timeout'],
  ['resource pool', () => new ResourcePool(() => 1, { limt: 2 } as never), 'limt', 'limit'],
  ['resource pool acquire', () => new ResourcePool(() => 1).acquire({ blocking: false } as never), 'blocking', 'block'],
  ['ConnectionPool', () => new ConnectionPool('fake://h:1/', { connectionOption: {} } as never), 'connectionOption', 'connectionOptions'],
  ['ProducerPool', () => new ProducerPool(new ConnectionPool('fake://h:1/'), { producerOption: {} } as never), 'producerOption', 'producerOptions'],
  ['Producer', () => new ProducerPool(new ConnectionPool('fake://h:1/'), { producerOptions: { serialiser: 'json' } as never }), 'serialiser', 'serializer'],
  ['PoolGroup', () => new PoolGroup({ limits: 2 } as never), 'limits', 'limit'],
  ['ConsumerWorker', () => new ConsumerWorker(connection(), { getConsumers: () => [], safety_interval: 1 } as never), 'safety_interval', 'safetyInterval'],
  [
    'ConsumerWorker retryPolicy',
    () => new ConsumerWorker(connection(), { getConsumers: () => [], retryPolicy: { max_retries: 1 } as never }),
    'max_retries',
    'maxRetries',
  ],
  ['ConsumerWorker.stop', () => new ConsumerWorker(connection(), { getConsumers: () => [] }).stop({ timout: 1 } as never), 'timout', 'timeout'],
  ['Connection', () => new Connection('fake://h:1/', { connectTimout: 1 } as never), 'connectTimout', 'connectTimeout'],
  ['Connection.close', () => connection().close({ timout: 1 } as never), 'timout', 'timeout'],
  ['Connection.ensure', () => connection().ensure(async () => 1, { maxRetry: 1 } as never), 'maxRetry', 'maxRetries'],
];

describe('every entry point refuses a misspelt option with a did-you-mean', () => {
  it.each(entryPoints)('%s refuses `%s`', async (entry, call, misspelt, meant) => {
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
