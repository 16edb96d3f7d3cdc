// One message published and consumed on memory:// through the installed packages' ESM build.
// Prints the delivered body, the file `kelp` resolved to, and whether @kelp/core and kelp share
// one KelpError class.
import * as core from '@kelp/core';
import { Connection, Consumer, KelpError, Producer, Queue } from 'kelp';
import { fileURLToPath } from 'node:url';

const conn = new Connection('memory://');
const queue = new Queue('packed');
await new Producer(conn).publish({ id: 'esm-1', via: 'import' }, { routingKey: 'packed', declare: [queue] });
for await (const message of new Consumer(conn, queue).messages({ timeout: 5 })) {
  const body = message.decode();
  await message.ack();
  const entry = fileURLToPath(import.meta.resolve('kelp'));
  process.stdout.write(`${JSON.stringify({ body, entry, oneKelpError: core.KelpError === KelpError })}\n`);
  break;
}
await conn.close();
