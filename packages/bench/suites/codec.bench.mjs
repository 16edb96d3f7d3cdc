// Per-message CPU on the hot path, without a broker: what serializing a body, building and
// parsing Kombu's JSON envelope, and turning a delivery into a Message cost. The budget
// is 25 us of client CPU per consumed+acked message; these show where it goes.
import { Bench } from 'tinybench';
import { Message, Producer } from 'kelp';
import { encodeEnvelope, envelopeToDelivery, parseEnvelope, readAckInfo } from '@kelp/virtual';

const body = { seq: 1, kind: 'bench', text: 'x'.repeat(160) };

/** A channel that is never used: Producer.prepare only serializes. */
const idleChannel = { channelId: 0, state: 'open' };

export async function codecSuite({ time = 300 } = {}) {
  const producer = new Producer(idleChannel, { autoDeclare: false });
  const outbound = producer.prepare(body, { routingKey: 'q', headers: { 'x-bench-ts': 1 } });
  const envelope = encodeEnvelope(outbound, 'x', 'q', '2b3c6b9e-8f1d-4f6e-9c1a-0d2e3f4a5b6c');
  const parsed = parseEnvelope(envelope);
  if (!parsed.ok) throw new Error(parsed.reason);
  const delivery = envelopeToDelivery(parsed.envelope, { queue: 'q', noAck: false });
  const bench = new Bench({ name: 'codec (no broker)', time });
  bench
    .add('JSON.stringify body (baseline)', () => JSON.stringify(body))
    .add('Producer.prepare (serialize + headers)', () => producer.prepare(body, { routingKey: 'q', headers: { 'x-bench-ts': 1 } }))
    .add('encodeEnvelope', () => encodeEnvelope(outbound, 'x', 'q', '2b3c6b9e-8f1d-4f6e-9c1a-0d2e3f4a5b6c'))
    .add('JSON.parse envelope (baseline)', () => JSON.parse(envelope))
    .add('parseEnvelope (validated)', () => parseEnvelope(envelope))
    .add('readAckInfo', () => readAckInfo(envelope))
    .add('Message + decode', () => new Message(delivery, undefined).decode());
  await bench.run();
  return bench;
}
