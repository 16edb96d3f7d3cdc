// One message published and consumed on memory:// through the installed packages' CommonJS
// build. Prints the delivered body, the file `kelp` resolved to, and whether @kelp/core and kelp
// share one KelpError class.
const core = require('@kelp/core');
const { Connection, Consumer, KelpError, Producer, Queue } = require('kelp');

async function main() {
  const conn = new Connection('memory://');
  const queue = new Queue('packed');
  await new Producer(conn).publish({ id: 'cjs-1', via: 'require' }, { routingKey: 'packed', declare: [queue] });
  for await (const message of new Consumer(conn, queue).messages({ timeout: 5 })) {
    const body = message.decode();
    await message.ack();
    const entry = require.resolve('kelp');
    process.stdout.write(`${JSON.stringify({ body, entry, oneKelpError: core.KelpError === KelpError })}\n`);
    break;
  }
  await conn.close();
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exitCode = 1;
});
