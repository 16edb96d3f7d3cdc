/**
 * sentinel:// against a real topology (one master, two replicas, three sentinels): the URL and
 * options as Kombu reads them, the errors a wrong configuration gets, and a planned
 * `SENTINEL FAILOVER` under a running consumer, which must go on consuming from the new master
 * with no restart.
 */
import { ConfigurationError, Connection, Exchange, OperationalError, Queue, SimpleQueue, type Message } from 'kelp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeInProcess } from '../faults/support/in-process.js';
import { sleep, waitFor } from '../faults/support/redis-data.js';
import { kelp } from '../cli/kelp-process.js';
import { MASTER_NAME, MASTER_PASSWORD, SENTINEL_PASSWORD, startSentinelTopology, type SentinelTopology } from '../setup/sentinel-topology.js';

let topology: SentinelTopology;
beforeAll(async () => {
  topology = await startSentinelTopology();
}, 60_000);
afterAll(() => topology?.stop());

const connect = (db: number, transportOptions: Record<string, unknown> = topology.transportOptions) =>
  new Connection(topology.url(db), { transportOptions });

describe('sentinel:// connections', () => {
  it('publishes to and consumes from the master the sentinels name', async () => {
    await using connection = connect(1);
    const queue = new SimpleQueue(connection, 'sq');
    await queue.put({ id: 'a' });
    const master = topology.nodeClient(await topology.masterPort());
    try {
      await master.select(1);
      expect(await master.llen('sq')).toBe(1);
      const message = await queue.get({ timeout: 5 });
      expect(message.decode()).toEqual({ id: 'a' });
      await message.ack();
      expect([await master.llen('sq'), await master.hlen('unacked')]).toEqual([0, 0]);
    } finally {
      master.disconnect();
    }
  });

  it('accepts Kombu\'s snake_case options and an array of URLs', async () => {
    const urls = topology.url(2).split(';');
    await using connection = new Connection(urls, { transportOptions: { master_name: MASTER_NAME, sentinel_kwargs: { password: SENTINEL_PASSWORD } } });
    await connection.ensureConnection({ maxRetries: 0 });
    expect(connection.transport.state).toBe('connected');
  });

  it('refuses a sentinel:// URL without master_name, naming the option', () => {
    expect(() => connect(1, { sentinelKwargs: { password: SENTINEL_PASSWORD } }).transport).toThrow(ConfigurationError);
    expect(() => connect(1, { sentinelKwargs: { password: SENTINEL_PASSWORD } }).transport).toThrow(/masterName.*master_name/);
  });

  it('fails with an OperationalError naming the sentinels\' refusal when their password is wrong, and never prints a password', async () => {
    await using connection = connect(1, { masterName: MASTER_NAME, sentinelKwargs: { password: 'wrong-password' } });
    const error = await connection.ensureConnection({ maxRetries: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OperationalError);
    expect((error as Error).message).toMatch(/WRONGPASS|invalid username-password/i);
    expect((error as Error).message).toMatch(/sentinel:\/\/:\*\*@127\.0\.0\.1/);
    expect(`${(error as Error).message} ${String((error as Error).stack)}`).not.toMatch(/master-secret|wrong-password/);
  });

  it('trusts only sentinels that see minOtherSentinels others, and says why it refused', async () => {
    await using enough = connect(5, { ...topology.transportOptions, minOtherSentinels: 2 });
    await enough.ensureConnection({ maxRetries: 0 });
    expect(enough.transport.state).toBe('connected');
    await using tooMany = connect(5, { ...topology.transportOptions, min_other_sentinels: 3 });
    const error = await tooMany.ensureConnection({ maxRetries: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OperationalError);
    expect((error as Error).message).toMatch(/sees 2 other sentinels, fewer than minOtherSentinels \(3\)/);
  });

  it('keeps consuming across a planned SENTINEL FAILOVER without a restart', { timeout: 60_000 }, async () => {
    const queueName = 'planned-q';
    const acked = new Set<string>();
    const deliveredAfterSwitch: string[] = [];
    let switched = false;
    const consumerConnection = connect(3);
    const events = { lost: 0, reconnected: 0 };
    consumerConnection.on('connectionLost', () => (events.lost += 1));
    consumerConnection.on('reconnected', () => (events.reconnected += 1));
    // A fanout queue too: its subscription must be made again on the new master.
    const fanQueue = new Queue('planned-fan-q', { exchange: new Exchange('planned-fan', { type: 'fanout' }) });
    const fanGot = new Set<string>();
    const running = await consumeInProcess(consumerConnection, [new Queue(queueName), fanQueue], {
      prefetchCount: 10,
      onMessage: async (message: Message) => {
        const { id } = message.decode() as { id: string };
        await message.ack();
        if (id.startsWith('fan-')) {
          fanGot.add(id);
          return;
        }
        if (switched) deliveredAfterSwitch.push(id);
        acked.add(id);
      },
    });
    await using producerConnection = connect(3);
    const producer = producerConnection.Producer({ routingKey: queueName });
    const publish = (id: string) => producer.publish({ id }, { retry: true, retryPolicy: { maxRetries: 20, intervalStart: 0.1, intervalStep: 0.1, intervalMax: 0.5 } });
    try {
      for (let i = 0; i < 20; i++) await publish(`before-${i}`);
      expect(await waitFor(async () => acked.size === 20, 10_000, 50)).toBe(true);
      const { from, to } = await topology.failover();
      switched = true;
      expect(to).not.toBe(from);
      // Scripts the new master ran for clients: publishes, pops and acks are all EVALSHA.
      const scriptCalls = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await topology.info(to, 'commandstats'))?.[1] ?? 0);
      const scriptsBefore = await scriptCalls();
      for (let i = 0; i < 20; i++) await publish(`after-${i}`);
      await waitFor(async () => acked.size === 40, 20_000, 50);
      expect(acked.size).toBe(40);
      // Published to and consumed from the new master: none of it went to the demoted one, where
      // it would be thrown away when that node resyncs as a replica.
      // 20 publishes (awaited one by one, a script call each), then pops and acks (batched: at
      // least one call of each).
      expect((await scriptCalls()) - scriptsBefore).toBeGreaterThanOrEqual(22);
      expect(deliveredAfterSwitch.filter((id) => id.startsWith('after-')).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `after-${i}`).sort());
      // The consumer's and producer's connections moved: the demoted node has no kelp client left.
      // The sentinels turn the old master into a replica of the new one shortly after the switch.
      expect(await waitFor(async () => (await topology.replication(from)).get('role') === 'slave', 15_000, 100)).toBe(true);
      expect(await topology.kelpClients(from)).toEqual([]);
      const master = topology.nodeClient(to);
      try {
        await master.select(3);
        expect([await master.llen(queueName), await master.hlen('unacked')]).toEqual([0, 0]);
      } finally {
        master.disconnect();
      }
      // ... and every connection of both (the consumer's command, poll and subscriber ones, the
      // producer's command one) is on the new master.
      const names = async () => (await topology.kelpClients(to)).map((line) => /name=(\S+)/.exec(line)?.[1]).sort();
      const expected = ['kelp-command', 'kelp-command', 'kelp-poll', 'kelp-subscriber'];
      let seen: unknown[] = [];
      await waitFor(async () => JSON.stringify((seen = await names())) === JSON.stringify(expected), 10_000, 100);
      expect(seen).toEqual(expected);
      // Client tracking is on again for the poll connection, redirected to the subscriber's new id.
      let clientLines: string[] = [];
      const tracking = async () => {
        const lines = (clientLines = await topology.kelpClients(to));
        const field = (name: string, key: string) => new RegExp(`(?:^| )${key}=(\\S*)`).exec(lines.find((l) => l.includes(`name=${name} `)) ?? '')?.[1];
        return (field('kelp-poll', 'flags') ?? '').includes('t') && field('kelp-poll', 'redir') === field('kelp-subscriber', 'id');
      };
      expect(await waitFor(tracking, 10_000, 100), clientLines.join('\n')).toBe(true);
      // Fanout reaches the consumer again (fire-and-forget: published until one arrives).
      const fanProducer = producerConnection.Producer({ exchange: new Exchange('planned-fan', { type: 'fanout' }) });
      const fanDelivered = await waitFor(async () => {
        await fanProducer.publish({ id: `fan-${Date.now()}` }, { declare: [fanQueue] });
        return fanGot.size > 0;
      }, 15_000, 200);
      expect(fanDelivered).toBe(true);
      expect(events.lost).toBeGreaterThanOrEqual(1);
      expect(events.reconnected).toBeGreaterThanOrEqual(1);
    } finally {
      await running.stop();
      await consumerConnection.close();
      await sleep(0);
    }
  });
});

describe('the kelp command on a sentinel:// URL', () => {
  /** The whole configuration in the URL, as a shell user writes it: master name and sentinel password in the query. */
  const cliUrl = (db: number, sentinelPassword = SENTINEL_PASSWORD) => {
    const [first, ...others] = topology.url(db).split(';');
    return [`${first}?master_name=${MASTER_NAME}&sentinel_password=${sentinelPassword}`, ...others].join(';');
  };
  const secrets = /master-secret|sentinel-secret|wrong-password/;

  it('publishes, inspects, consumes, purges, restores, lists dead letters and runs the demo, printing no password', { timeout: 60_000 }, async () => {
    const url = cliUrl(8);
    const published = await kelp(['publish', url, '--exchange', 'cli-x', '--routing-key', 'cli-q', '--queue', 'cli-q', '--count', '3', 'job', '--json']);
    expect([published.code, published.stderr]).toEqual([0, '']);
    const inspected = await kelp(['inspect', url, '--json']);
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toMatch(/"cli-q"/);
    const consumed = await kelp(['consume', url, '--queue', 'cli-q', '--count', '2', '--json']);
    expect([consumed.code, consumed.stdout.trim().split('\n').length]).toEqual([0, 2]);
    const purged = await kelp(['purge', url, '--queue', 'cli-q', '--json']);
    expect(purged.code).toBe(0);
    expect(purged.stdout).toMatch(/1/);
    const master = topology.nodeClient(await topology.masterPort());
    try {
      await master.select(8);
      expect([await master.llen('cli-q'), await master.hlen('unacked')]).toEqual([0, 0]);
    } finally {
      master.disconnect();
    }
    const restored = await kelp(['restore', url, '--older-than', '0', '--dry-run', '--json']);
    const deadLetters = await kelp(['dead-letters', url, '--queue', 'cli-q', '--json']);
    const demo = await kelp(['demo', url, '--messages', '200', '--json'], { timeoutMs: 60_000 });
    expect([restored.code, deadLetters.code, demo.code]).toEqual([0, 0, 0]);
    expect(demo.stdout).toMatch(/sentinel:\/\/:\*\*@127\.0\.0\.1/);
    for (const run of [published, inspected, consumed, purged, restored, deadLetters, demo]) expect(`${run.stdout}${run.stderr}`).not.toMatch(secrets);
  });

  it('reports a wrong sentinel password without printing any password', { timeout: 30_000 }, async () => {
    const run = await kelp(['inspect', cliUrl(8, 'wrong-password')]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/WRONGPASS|invalid username-password/i);
    expect(run.stderr).toMatch(/sentinel_password=\*\*/);
    expect(`${run.stdout}${run.stderr}`).not.toMatch(secrets);
    expect(MASTER_PASSWORD).toMatch(secrets);
  });
});
