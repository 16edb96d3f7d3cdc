/** Runs a Consumer in the test process on the connection's hub, as a worker's main loop does. */
import { Consumer, type Connection, type ConsumerOptions, type Queue } from 'kelp';

export interface RunningConsumer {
  consumer: Consumer;
  /** Stops the hub loop (does not close the connection). */
  stop(): Promise<void>;
}

export async function consumeInProcess(connection: Connection, queues: Queue | Queue[], options: ConsumerOptions): Promise<RunningConsumer> {
  const consumer = new Consumer(connection, queues, options);
  connection.registerWithEventLoop(connection.hub);
  await consumer.consume();
  const abort = new AbortController();
  const loop = connection.hub.runForever(abort.signal).catch(() => undefined);
  return {
    consumer,
    stop: async () => {
      abort.abort();
      connection.hub.stop();
      await loop;
    },
  };
}
