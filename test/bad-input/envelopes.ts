/**
 * Raw envelopes written straight into a queue, as another (possibly buggy, possibly Python)
 * producer would. Malformed ones must be moved aside with a reason (design.md: "never crashes the
 * consumer and is never silently dropped") while the messages behind them still arrive; the
 * sloppy-but-valid shapes Python Kombu accepts (docs/wire-format.md#required-fields) must be
 * delivered.
 *
 * A transport's test file supplies the URL and a way to put raw text on a queue's list.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Connection, Consumer, OperationTimeoutError, Producer, Queue, type Message } from 'kelp';

export interface EnvelopeSuiteOptions {
  url: () => string | Promise<string>;
  /** Puts `raw` on the priority-0 list of `queue`, at the back (as LPUSH does). */
  inject: (queue: string, raw: string) => Promise<void>;
  transportOptions?: Record<string, unknown>;
}

const TAG = '3f2b8a64-8c1e-4d6a-9b7e-2f4c6d8e0a1b';

/** The Kombu envelope shape (docs/wire-format.md#envelope-fields), loose enough for tests to break it. */
interface RawEnvelope {
  body?: string;
  'content-encoding'?: string;
  'content-type'?: string;
  headers?: Record<string, unknown>;
  properties: Record<string, unknown>;
}

/** A well-formed envelope for `queue`, as Kombu writes it; `patch` edits it before encoding. */
function envelope(queue: string, patch: (env: RawEnvelope) => void = () => undefined): string {
  const env: RawEnvelope = {
    body: Buffer.from('{"ok": true}').toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: {},
    properties: {
      delivery_mode: 2,
      delivery_info: { exchange: '', routing_key: queue },
      priority: 0,
      body_encoding: 'base64',
      delivery_tag: TAG,
    },
  };
  patch(env);
  return JSON.stringify(env);
}

const MALFORMED: ReadonlyArray<[string, (queue: string) => string]> = [
  ['text that is not JSON', () => 'garbage{'],
  ['a JSON array', () => '[1, 2, 3]'],
  ['an envelope without properties.delivery_tag', (q) => envelope(q, (e) => delete e.properties.delivery_tag)],
  ['an envelope without properties.delivery_info', (q) => envelope(q, (e) => delete e.properties.delivery_info)],
  ['a body that is not valid base64', (q) => envelope(q, (e) => (e.body = '!!not base64!!'))],
  ['an unknown body_encoding', (q) => envelope(q, (e) => (e.properties.body_encoding = 'rot13'))],
];

export function defineEnvelopeSuite(name: string, options: EnvelopeSuiteOptions): void {
  describe(`raw envelopes: ${name}`, () => {
    let open: Connection[] = [];
    let counter = 0;
    const run = Math.random().toString(36).slice(2, 8);
    const queueName = (): string => `env-${run}-${++counter}`;

    afterEach(async () => {
      const toClose = open;
      open = [];
      for (const conn of toClose) await conn.close();
    });

    async function setup(): Promise<{ conn: Connection; queue: Queue; dead: { queue: string; reason: string }[] }> {
      const conn = new Connection(await options.url(), { transportOptions: options.transportOptions ?? {} });
      open.push(conn);
      await conn.connect();
      const dead: { queue: string; reason: string }[] = [];
      conn.transport.on('deadLettered', (info) => dead.push(info));
      const queue = new Queue(queueName()).bind(await conn.defaultChannel());
      await queue.declare();
      return { conn, queue, dead };
    }

    async function publishGood(conn: Connection, queue: string, body: unknown): Promise<void> {
      await new Producer(await conn.defaultChannel()).publish(body, { exchange: '', routingKey: queue });
    }

    describe('malformed envelopes', () => {
      for (const [label, make] of MALFORMED) {
        it(`get() moves ${label} aside with a reason and returns the next message`, async () => {
          const { conn, queue, dead } = await setup();
          await options.inject(queue.name, make(queue.name));
          await publishGood(conn, queue.name, { after: 'bad' });
          const message = await queue.get({ noAck: true });
          expect(message?.payload).toEqual({ after: 'bad' });
          expect(dead).toHaveLength(1);
          expect(dead[0]?.queue).toBe(queue.name);
          expect(dead[0]?.reason.length).toBeGreaterThan(0);
          expect(await queue.get({ noAck: true })).toBeUndefined();
        });
      }

      it('lets a consumer keep consuming past a malformed envelope', async () => {
        const { conn, queue, dead } = await setup();
        await publishGood(conn, queue.name, 1);
        await options.inject(queue.name, 'garbage{');
        await publishGood(conn, queue.name, 2);
        const got: Message[] = [];
        const consumer = new Consumer(await conn.channel(), [new Queue(queue.name)], {
          noAck: true,
          onMessage: (message) => {
            got.push(message);
          },
        });
        await consumer.consume();
        const deadline = Date.now() + 5000;
        while (got.length < 2 && Date.now() < deadline) {
          await conn.drainEvents({ timeout: 1 }).catch((error: unknown) => {
            if (!(error instanceof OperationTimeoutError)) throw error;
          });
        }
        expect(got.map((m) => m.payload)).toEqual([1, 2]);
        expect(dead.map((d) => d.queue)).toEqual([queue.name]);
      });

      it('dead-letters once, leaving no unacked record, an envelope whose only delivery_tag is a header', async () => {
        const { conn, queue, dead } = await setup();
        const admin = conn.transport.admin;
        if (!admin) throw new Error(`the ${conn.transport.driverName} transport has no admin`);
        const unackedBefore = (await admin.inspect()).unackedTotal;
        await options.inject(
          queue.name,
          envelope(queue.name, (e) => {
            delete e.properties.delivery_tag;
            e.headers = { delivery_tag: 'from-a-header' };
          }),
        );
        await publishGood(conn, queue.name, { after: 'bad' });
        const got: unknown[] = [];
        const consumer = new Consumer(await conn.channel(), [new Queue(queue.name)], {
          onMessage: async (message) => {
            got.push(message.payload);
            await message.ack();
          },
        });
        await consumer.consume();
        const deadline = Date.now() + 5000;
        // The dead-letter is reported once its write is answered, which can come after the delivery.
        while ((got.length < 1 || dead.length < 1) && Date.now() < deadline) {
          await conn.drainEvents({ timeout: 1 }).catch((error: unknown) => {
            if (!(error instanceof OperationTimeoutError)) throw error;
          });
        }
        // Once more, for a second report that should not come.
        await conn.drainEvents({ timeout: 0.3 }).catch((error: unknown) => {
          if (!(error instanceof OperationTimeoutError)) throw error;
        });
        await consumer.cancel();
        expect(got).toEqual([{ after: 'bad' }]);
        expect(dead.map((d) => d.queue)).toEqual([queue.name]);
        expect((await admin.inspect()).unackedTotal).toBe(unackedBefore);
      });

      it("keeps the record of a message in flight when a malformed envelope names its tag in a header", async () => {
        const { conn, queue, dead } = await setup();
        await publishGood(conn, queue.name, { id: 'held' });
        const holder = new Connection(await options.url(), { transportOptions: options.transportOptions ?? {} });
        open.push(holder);
        const held = await new Queue(queue.name).bind(await holder.defaultChannel()).get();
        expect(held?.payload).toEqual({ id: 'held' });
        await options.inject(
          queue.name,
          envelope(queue.name, (e) => {
            delete e.properties.delivery_tag;
            e.headers = { delivery_tag: held?.deliveryTag };
          }),
        );
        expect(await queue.get()).toBeUndefined();
        expect(dead.map((d) => d.queue)).toEqual([queue.name]);
        // The holder goes away without acking: its message must come back.
        open = open.filter((c) => c !== holder);
        await holder.close();
        const back = await queue.get({ noAck: true });
        expect([back?.payload, back?.deliveryTag]).toEqual([{ id: 'held' }, held?.deliveryTag]);
      });
    });

    describe('envelopes Python Kombu accepts (docs/wire-format.md#required-fields)', () => {
      it('delivers a minimal envelope without priority and delivery_mode', async () => {
        const { queue } = await setup();
        await options.inject(
          queue.name,
          envelope(queue.name, (e) => {
            delete e.properties.priority;
            delete e.properties.delivery_mode;
          }),
        );
        const message = await queue.get({ noAck: true });
        expect(message?.payload).toEqual({ ok: true });
        expect(message?.deliveryTag).toBe(TAG);
        expect(message?.properties.priority).toBe(0);
      });

      it('takes the body verbatim when body_encoding is missing', async () => {
        const { queue } = await setup();
        await options.inject(
          queue.name,
          envelope(queue.name, (e) => {
            delete e.properties.body_encoding;
            e.body = '{"a": 2}';
          }),
        );
        const message = await queue.get({ noAck: true });
        expect(message?.payload).toEqual({ a: 2 });
      });

      it('treats an envelope without headers and content-type as application/data', async () => {
        const { queue } = await setup();
        await options.inject(
          queue.name,
          envelope(queue.name, (e) => {
            delete e.headers;
            delete e['content-type'];
            e.body = Buffer.from('raw text').toString('base64');
          }),
        );
        const message = await queue.get({ noAck: true });
        expect(message?.contentType).toBeNull();
        expect(new TextDecoder().decode(message?.body)).toBe('raw text');
        expect(message?.payload).toBe('raw text');
      });

      it('reads a priority given as a string the way Python int() does ("5" is 5, "high" is 0)', async () => {
        const { queue } = await setup();
        await options.inject(queue.name, envelope(queue.name, (e) => (e.properties.priority = '5')));
        const five = await queue.get({ noAck: true });
        await options.inject(queue.name, envelope(queue.name, (e) => (e.properties.priority = 'high')));
        const zero = await queue.get({ noAck: true });
        expect(five?.properties.priority).toBe(5);
        expect(zero?.properties.priority).toBe(0);
      });

      it('decodes the envelope a Python Kombu 5.2.4 producer wrote (docs/wire-format.md#json-layout)', async () => {
        const { queue } = await setup();
        // Python's json.dumps separators and property order, as captured from Kombu.
        const captured =
          '{"body": "eyJoZWxsbyI6ICJ3b3JsZCIsICJuIjogMX0=", "content-encoding": "utf-8", "content-type": "application/json", ' +
          '"headers": {"x-custom": "h1"}, "properties": {"correlation_id": "corr-1", "reply_to": "replyq", "delivery_mode": 2, ' +
          `"expiration": "30000", "delivery_info": {"exchange": "myex", "routing_key": "myrk"}, "priority": 0, ` +
          '"body_encoding": "base64", "delivery_tag": "0539e9b4-ffd6-41b0-a605-1338151c2850"}}';
        await options.inject(queue.name, captured);
        const message = await queue.get({ noAck: true });
        expect(message?.payload).toEqual({ hello: 'world', n: 1 });
        expect(message?.headers['x-custom']).toBe('h1');
        expect(message?.properties.correlationId).toBe('corr-1');
        expect(message?.properties.replyTo).toBe('replyq');
        expect(message?.properties.expiration).toBe('30000');
        expect(message?.deliveryTag).toBe('0539e9b4-ffd6-41b0-a605-1338151c2850');
        expect(message?.deliveryInfo.exchange).toBe('myex');
        expect(message?.deliveryInfo.routingKey).toBe('myrk');
      });
    });
  });
}
