/**
 * A consumer process for fault tests, run from an esbuild bundle (see bundle.ts) with one JSON
 * argument (WorkerConfig). It consumes one queue and writes a log the parent reads even after a
 * SIGKILL: `D <id> <redelivered> <ms>` is written and fsync'd BEFORE the ack, `A <id>` after the
 * ack resolved, `F <id> <error>` when the ack failed (the message then stays unacked and is
 * restored later), `E <event> ...` for connection events. SIGTERM stops it gracefully.
 */
import { fsyncSync, openSync, writeSync } from 'node:fs';
import { Connection, Consumer, Queue } from 'kelp';

export interface WorkerConfig {
  url: string;
  queue: string;
  prefetch: number;
  log: string;
  transportOptions?: Record<string, unknown>;
  /** Milliseconds each handler takes before it acks. */
  handlerMs?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const fd = openSync(config.log, 'a');
const oneLine = (value: unknown) => (value instanceof Error ? `${value.name}: ${value.message}` : String(value)).replace(/\s+/g, ' ');
const line = (text: string, sync = false): void => {
  writeSync(fd, `${text}\n`);
  if (sync) fsyncSync(fd);
};

const connection = new Connection(config.url, { transportOptions: config.transportOptions ?? {} });
connection.on('connectionLost', (error) => line(`E connectionLost ${Date.now()} ${oneLine(error)}`));
connection.on('reconnected', () => line(`E reconnected ${Date.now()}`));
connection.on('error', (error) => line(`E error ${Date.now()} ${oneLine(error)}`));

const consumer = new Consumer(connection, [new Queue(config.queue)], {
  prefetchCount: config.prefetch,
  onMessage: async (message) => {
    let id = '?';
    try {
      const body = message.decode() as { id?: unknown };
      id = String(body.id);
    } catch (error) {
      line(`X ${message.deliveryTag} ${oneLine(error)}`, true);
    }
    line(`D ${id} ${message.redelivered ? 1 : 0} ${Date.now()}`, true);
    if (config.handlerMs) await new Promise((resolve) => setTimeout(resolve, config.handlerMs));
    try {
      await message.ack();
      line(`A ${id}`);
    } catch (error) {
      line(`F ${id} ${oneLine(error)}`);
    }
  },
  onError: (error) => line(`E consumerError ${Date.now()} ${oneLine(error)}`),
});

const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());

async function main(): Promise<void> {
  connection.registerWithEventLoop(connection.hub);
  await connection.ensureConnection({ maxRetries: 50, intervalStart: 0.1, intervalStep: 0.1, intervalMax: 0.5 });
  await consumer.consume();
  line(`R ${process.pid} ${Date.now()}`, true);
  process.stdout.write('ready\n');
  await connection.hub.runForever(stop.signal).catch(() => undefined);
  await consumer.cancel().catch((error: unknown) => line(`E cancelFailed ${Date.now()} ${oneLine(error)}`));
  await consumer.whenIdle();
  await connection.close();
  line(`S ${Date.now()}`, true);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    line(`E fatal ${Date.now()} ${oneLine(error)}`, true);
    process.exit(3);
  },
);
