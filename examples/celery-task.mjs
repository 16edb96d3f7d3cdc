// Enqueue a Celery task from Node: a protocol-2 task message
// (docs/wire-format.md#celery-task-messages) published with kelp's Producer on the anonymous
// exchange ('') with the queue name as routing key, as Celery does.
// On memory:// this example consumes the message back and prints what a worker would see.
// With a redis:// URL shared with a Celery app, a real worker consuming the 'celery' queue runs
// tasks.add(2, 3); the result lands in the result backend under celery-task-meta-<id>, which you
// read with any Redis client (kelp has no result-backend API), e.g. `redis-cli GET celery-task-meta-<id>`.
// Run: npm run build && node examples/celery-task.mjs [URL]
import { randomUUID } from 'node:crypto';
import { Connection, Queue } from 'kelp';

const url = process.argv[2] ?? 'memory://';
const conn = new Connection(url); // in TypeScript: `await using conn = ...` closes it for you
const queueName = 'celery'; // Celery's default queue

const id = randomUUID();
const args = [2, 3];
const kwargs = {};
const headers = {
  lang: 'js', task: 'tasks.add', id, root_id: id, parent_id: null, group: null, group_index: null,
  shadow: null, eta: null, expires: null, retries: 0, timelimit: [null, null],
  argsrepr: '(2, 3)', kwargsrepr: '{}', origin: `node@${process.pid}`, ignore_result: false,
};
// Protocol 2 body: [args, kwargs, embed]. Passing contentType means kelp sends the string as is.
const body = JSON.stringify([args, kwargs, { callbacks: null, errbacks: null, chain: null, chord: null }]);

const producer = conn.Producer();
const result = await producer.publish(body, {
  exchange: '', // the anonymous (default) exchange: routes to the queue named by the routing key
  routingKey: queueName,
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  headers,
  correlationId: id,
  replyTo: '',
  priority: 0, // on Redis 0 is served first (see "Working with Python Kombu and Celery")
  deliveryMode: 2,
  // Celery declares its queue; declaring here too makes the example self-contained.
  declare: [new Queue(queueName)],
});
console.log(`sent tasks.add${headers.argsrepr} id=${id}: ${result.status} to ${result.queues.join(', ')}`);

if (url.startsWith('memory://')) {
  const message = await new Queue(queueName).bind(await conn.defaultChannel()).get();
  const { task, id: taskId, argsrepr } = message.headers;
  console.log(`worker would see: task=${task} id matches=${taskId === id} argsrepr=${argsrepr}`);
  console.log('body:', JSON.stringify(message.decode()), 'content type:', message.contentType);
  await message.ack();
} else {
  console.log(`a Celery worker on this broker stores the result at celery-task-meta-${id} in its result backend`);
}
await conn.close();
