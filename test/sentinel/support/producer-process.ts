/**
 * A producer process for the sentinel failover test, run from an esbuild bundle with one JSON
 * argument (ProducerConfig). It publishes `<prefix><i>` for i < count over `lanes` concurrent
 * lanes and logs each outcome (fsync'd, so the parent reads it even after a crash):
 *   `T <id>`       an attempt to publish it (each may have stored a copy);
 *   `C <id> <ms>`  resolved, so confirmed: at least one replica has the write;
 *   `U <id> <ms>`  stored, not confirmed (no replica acknowledged it in time);
 *   `O <id> <ms>`  rejected with OperationalError (allowed while the master is down);
 *   `X <id> <error>` rejected with anything else (a bug); `H <id>` never settled (a bug).
 *
 * Every publish is confirmed (`confirm`: kelp waits for Redis's WAIT): only a publish that
 * resolved is known to be on a replica, and only those count as confirmed.
 */
import { fsyncSync, openSync, writeSync } from 'node:fs';
import { Connection, OperationalError, PublishNotConfirmedError } from 'kelp';

export interface ProducerConfig {
  url: string;
  transportOptions: Record<string, unknown>;
  queue: string;
  prefix: string;
  count: number;
  lanes: number;
  log: string;
  /** What each publish waits for (kelp's confirmed publishes). */
  confirm: { replicas: number; timeout: number };
}

const config = JSON.parse(process.argv[2] ?? '{}') as ProducerConfig;
const fd = openSync(config.log, 'a');
const line = (text: string): void => {
  writeSync(fd, `${text}\n`);
  fsyncSync(fd);
};
const HUNG_MS = 30_000;

const connection = new Connection(config.url, { transportOptions: config.transportOptions });
connection.on('error', (error) => line(`E error ${Date.now()} ${error.message.replace(/\s+/g, ' ')}`));
const producer = connection.Producer({ routingKey: config.queue });
/** Attempts per id, and the pause before each retry (ms): about ten seconds in all. */
const ATTEMPTS = 12;
const retryDelay = (attempt: number): number => Math.min(200 * attempt, 1000);

/**
 * Publishes one id, retrying what rejects with OperationalError (the master is gone) here rather
 * than with `retry: true`, so that every attempt is logged (`T <id>`): an attempt whose reply
 * was lost may have stored a copy, and the test counts copies against acks.
 */
async function publishConfirmed(id: string): Promise<'confirmed'> {
  for (let attempt = 1; ; attempt++) {
    line(`T ${id}`);
    try {
      await producer.publish({ id }, { routingKey: config.queue, confirm: config.confirm });
      return 'confirmed';
    } catch (error) {
      if (!(error instanceof OperationalError) || attempt >= ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, retryDelay(attempt)));
    }
  }
}

async function lane(start: number): Promise<void> {
  for (let i = start; i < config.count; i += config.lanes) {
    const id = `${config.prefix}${i}`;
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), HUNG_MS)));
    try {
      const outcome = await Promise.race([publishConfirmed(id), hung]);
      line(outcome === 'hung' ? `H ${id}` : `C ${id} ${Date.now()}`);
    } catch (error) {
      // Stored, but no replica acknowledged it in time (kelp's confirmed publishes).
      if (error instanceof PublishNotConfirmedError) line(`U ${id} ${Date.now()}`);
      else if (error instanceof OperationalError) line(`O ${id} ${Date.now()}`);
      else line(`X ${id} ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`.replace(/\s+/g, ' '));
    } finally {
      clearTimeout(timer);
    }
  }
}

async function main(): Promise<void> {
  await connection.ensureConnection({ maxRetries: 50, intervalStart: 0.1, intervalStep: 0.1, intervalMax: 0.5 });
  process.stdout.write('ready\n');
  await Promise.all(Array.from({ length: config.lanes }, (_, i) => lane(i)));
  await connection.close();
  line(`S ${Date.now()}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    line(`E fatal ${Date.now()} ${error instanceof Error ? error.message : String(error)}`);
    process.exit(3);
  },
);
