/**
 * A producer process for the sentinel failover test, run from an esbuild bundle with one JSON
 * argument (ProducerConfig). It publishes `<prefix><i>` for i < count over `lanes` concurrent
 * lanes and logs each outcome (fsync'd, so the parent reads it even after a crash):
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
const retryPolicy = { maxRetries: 12, intervalStart: 0.2, intervalStep: 0.2, intervalMax: 1 };

/** Publishes one id; resolves once a replica has it (PublishNotConfirmedError otherwise). */
const publishConfirmed = (id: string): Promise<'confirmed'> =>
  producer.publish({ id }, { routingKey: config.queue, retry: true, retryPolicy, confirm: config.confirm }).then(() => 'confirmed' as const);

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
