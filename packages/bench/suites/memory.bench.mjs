// Broker-free round trips through kelp's public API on memory://: the cost of the virtual
// channel, routing, QoS and the Message state machine without any network.
import { Bench } from 'tinybench';
import { Connection, Exchange, Producer, Queue } from 'kelp';

export async function memorySuite({ time = 300 } = {}) {
  const connection = new Connection('memory://');
  await connection.connect();
  const channel = await connection.channel();
  const exchange = new Exchange('bench.x', { type: 'direct', durable: false });
  await exchange.bind(channel).declare();
  const queue = new Queue('bench.q', { exchange, routingKey: 'bench.q', durable: false }).bind(channel);
  await queue.declare();
  const fanout = new Exchange('bench.fx', { type: 'fanout', durable: false });
  await fanout.bind(channel).declare();
  for (let i = 0; i < 10; i += 1) await new Queue(`bench.f${i}`, { exchange: fanout, durable: false }).bind(channel).declare();
  const producer = new Producer(channel, { exchange, autoDeclare: false });
  const fanoutProducer = new Producer(channel, { exchange: fanout, autoDeclare: false });
  const body = { seq: 1, kind: 'bench', text: 'x'.repeat(160) };
  const bench = new Bench({ name: 'memory:// round trips', time });
  bench
    .add('publish (awaited)', async () => {
      await producer.publish(body, { routingKey: 'bench.q' });
      await queue.purge();
    })
    .add('publish + get + ack', async () => {
      await producer.publish(body, { routingKey: 'bench.q' });
      const message = await queue.get();
      await message.ack();
    })
    .add('fanout publish to 10 queues', async () => {
      await fanoutProducer.publish(body);
      for (let i = 0; i < 10; i += 1) await new Queue(`bench.f${i}`).bind(channel).purge();
    });
  try {
    await bench.run();
  } finally {
    await connection.close();
  }
  return bench;
}
