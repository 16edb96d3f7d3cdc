/**
 * Bad input fails loudly with the right typed error, names the option at fault, and never loses
 * or half-stores a message: unknown exchange types, bad URLs, out-of-range priorities, bodies the
 * serializer cannot encode, and content a consumer does not accept.
 */
import { describe, expect, it } from 'vitest';
import {
  ConfigurationError,
  Connection,
  Consumer,
  ContentDisallowedError,
  EncodeError,
  Exchange,
  KelpError,
  Queue,
  type ExchangeType,
  type Message,
} from 'kelp';
import { caught, declareQueue, drainQueue, drainUntil, publish, type SuiteContext } from './context.js';

/** `error` is a ConfigurationError whose option (or, failing that, message) names `option`. */
function expectConfigurationError(error: unknown, option: string): void {
  expect(error).toBeInstanceOf(ConfigurationError);
  const { option: named, message } = error as ConfigurationError;
  expect(`${named ?? ''} ${message}`).toContain(option);
}

export function badInputTests(ctx: SuiteContext): void {
  describe('bad input', () => {
    it('refuses an unknown exchange type with a ConfigurationError naming type', async () => {
      const conn = await ctx.connection();
      const channel = await conn.defaultChannel();
      const error = await caught(async () => {
        const exchange = new Exchange(ctx.name('hx'), { type: 'headers' as ExchangeType });
        await exchange.bind(channel).declare();
      });
      expectConfigurationError(error, 'type');
    });

    it('refuses a URL whose scheme has no transport with a ConfigurationError', async () => {
      const error = await caught(async () => {
        const conn = new Connection('nosuchtransport://localhost/');
        try {
          await conn.connect();
        } finally {
          await conn.close();
        }
      });
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toContain('nosuchtransport');
    });

    it('refuses a string that is not a URL with a ConfigurationError', async () => {
      const error = await caught(async () => {
        const conn = new Connection('this is not a url');
        try {
          await conn.connect();
        } finally {
          await conn.close();
        }
      });
      expect(error).toBeInstanceOf(ConfigurationError);
    });

    it('refuses a transport option of the wrong type with a ConfigurationError naming it', async () => {
      const error = await caught(async () => {
        const conn = await ctx.connection({ visibilityTimeout: 'soon' });
        await conn.connect();
        await conn.channel();
      });
      expectConfigurationError(error, 'visibilityTimeout');
    });

    it('refuses an unknown queueOrderStrategy with a ConfigurationError naming it', async () => {
      const error = await caught(async () => {
        const conn = await ctx.connection({ queueOrderStrategy: 'random-please' });
        await conn.connect();
        await conn.channel();
      });
      expectConfigurationError(error, 'queueOrderStrategy');
    });

    it('refuses priority 42 with a ConfigurationError naming priority, storing nothing', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('bq'), { maxPriority: 9 });
      const error = await caught(() => publish(conn, 'x', { exchange: '', routingKey: queue.name, priority: 42 }));
      expectConfigurationError(error, 'priority');
      expect(await drainQueue(queue)).toEqual([]);
    });

    it('refuses a BigInt body with EncodeError, storing nothing', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('bq'));
      const error = await caught(() => publish(conn, { n: 10n }, { exchange: '', routingKey: queue.name }));
      expect(error).toBeInstanceOf(EncodeError);
      expect(await drainQueue(queue)).toEqual([]);
    });

    it('refuses a body with a reference cycle with EncodeError, storing nothing', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('bq'));
      const cyclic: Record<string, unknown> = { name: 'loop' };
      cyclic['self'] = cyclic;
      const error = await caught(() => publish(conn, cyclic, { exchange: '', routingKey: queue.name }));
      expect(error).toBeInstanceOf(EncodeError);
      expect(await drainQueue(queue)).toEqual([]);
    });

    it('refuses an unknown serializer name with a kelp error naming it, storing nothing', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('bq'));
      const error = await caught(() =>
        publish(conn, 'x', { exchange: '', routingKey: queue.name, serializer: 'no-such-format' }),
      );
      expect(error).toBeInstanceOf(KelpError);
      expect((error as Error).message).toContain('no-such-format');
      expect(await drainQueue(queue)).toEqual([]);
    });

    it('refuses a negative prefetchCount with a ConfigurationError naming prefetchCount', async () => {
      const conn = await ctx.connection();
      const channel = await conn.channel();
      const error = await caught(async () => {
        const consumer = new Consumer(channel, [new Queue(ctx.name('bq'))], { prefetchCount: -1 });
        await consumer.consume();
      });
      expectConfigurationError(error, 'prefetchCount');
    });

    it('refuses extendVisibility(0) with a ConfigurationError naming seconds', async () => {
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, ctx.name('bq'));
      await publish(conn, 'x', { exchange: '', routingKey: queue.name });
      const message = await queue.get();
      const error = await caught(() => message?.extendVisibility(0));
      expectConfigurationError(error, 'seconds');
      await message?.ack();
    });

    it('refuses basicRecover without requeue (Kombu raises NotImplementedError there)', async () => {
      const conn = await ctx.connection();
      const channel = await conn.channel();
      expect(await caught(() => channel.basicRecover(false))).toBeInstanceOf(KelpError);
    });

    it('reports msgpack sent to an accept-json consumer as ContentDisallowedError without losing it', async () => {
      const name = ctx.name('bq');
      const conn = await ctx.connection();
      await declareQueue(conn, name);
      await publish(conn, { packed: true }, { exchange: '', routingKey: name, serializer: 'msgpack' });
      const failures: { message: Message; error: unknown }[] = [];
      const consumer = new Consumer(await conn.channel(), [new Queue(name)], {
        accept: ['json'],
        callbacks: [
          () => {
            throw new Error('the callback must not see a refused body');
          },
        ],
        onDecodeError: (message, error) => {
          failures.push({ message, error });
        },
      });
      await consumer.consume();
      await drainUntil(conn, () => failures.length >= 1);
      expect(failures).toHaveLength(1);
      expect(failures[0]?.error).toBeInstanceOf(ContentDisallowedError);
      expect(failures[0]?.message.state).toBe('RECEIVED');
      // Not lost: it is still unacked, so closing the connection restores it.
      await conn.close();
      const other = await declareQueue(await ctx.connection(), name);
      const again = await other.get({ noAck: true, accept: ['msgpack'] });
      expect(again?.payload).toEqual({ packed: true });
      expect(again?.redelivered).toBe(true);
    });

    it('keeps a message whose decode was refused by get({ accept }) restorable', async () => {
      const name = ctx.name('bq');
      const conn = await ctx.connection();
      const queue = await declareQueue(conn, name);
      await publish(conn, [1, 2], { exchange: '', routingKey: name, serializer: 'msgpack' });
      const message = await queue.get({ accept: ['json'] });
      expect(await caught(() => message?.decode())).toBeInstanceOf(ContentDisallowedError);
      expect(message?.state).toBe('RECEIVED');
      await conn.close();
      const other = await declareQueue(await ctx.connection(), name);
      const again = await other.get({ noAck: true, accept: ['msgpack'] });
      expect(again?.payload).toEqual([1, 2]);
    });
  });
}
