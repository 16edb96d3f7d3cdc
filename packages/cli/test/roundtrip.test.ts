import { describe, expect, it } from 'vitest';
import { Connection, Queue } from 'kelp';
import { runCli } from '../src/index.js';
import { captureIo } from './helpers.js';

// memory:// brokers live in this process, so every step runs in-process through runCli with the
// same URL; each test uses its own broker name.
let brokers = 0;
const freshUrl = (): string => `memory://clitest-${process.pid}-${(brokers += 1)}`;

async function kelp(argv: string[], stdin?: string[]): Promise<{ code: number; lines: string[]; stdout: string; stderr: string }> {
  const io = captureIo(stdin ? { stdin } : {});
  const code = await runCli(argv, io.io);
  return { code, lines: io.lines(), stdout: io.stdout(), stderr: io.stderr() };
}

const publishArgs = (url: string, ...rest: string[]): string[] => [
  'publish', url, '--exchange', 'tasks', '--routing-key', 'email', '--queue', 'email', ...rest,
];

describe('publish, consume and purge on memory://', () => {
  it('consumes, in order and as JSON lines, the bodies published one per stdin line', async () => {
    const url = freshUrl();
    const published = await kelp([...publishArgs(url, '--json'), '-'], ['{"n":1}', 'two', '3']);
    expect(published.code).toBe(0);
    expect(JSON.parse(published.lines[0] ?? '')).toMatchObject({ published: 3, routed: 3, unroutable: 0, queues: ['email'] });

    const consumed = await kelp(['consume', url, '--queue', 'email', '--count', '3', '--json']);
    expect(consumed.code).toBe(0);
    const messages = consumed.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(messages.map((m) => m['body'])).toEqual([{ n: 1 }, 'two', 3]);
    expect(messages[0]).toMatchObject({
      contentType: 'application/json',
      deliveryInfo: { exchange: 'tasks', routingKey: 'email', redelivered: false },
    });
    expect(typeof messages[0]?.['deliveryTag']).toBe('string');

    // All three were acked: nothing is left.
    const again = await kelp(['consume', url, '--queue', 'email', '--timeout', '0.2', '--json']);
    expect(again).toMatchObject({ code: 0, lines: [] });
  });

  it('carries headers, priority and serializer through to the consumer', async () => {
    const url = freshUrl();
    const published = await kelp(
      publishArgs(url, '--header', 'tenant=acme', '--header', 'trace=a=b', '--priority', '7', '--serializer', 'msgpack', '{"id":42}'),
    );
    expect(published.code).toBe(0);
    expect(published.stdout).toBe("published 1 message to exchange 'tasks' with routing key 'email': 1 routed to email\n");
    const consumed = await kelp(['consume', url, '--queue', 'email', '--count', '1', '--json']);
    const message = JSON.parse(consumed.lines[0] ?? '') as Record<string, Record<string, unknown>>;
    expect(message['body']).toEqual({ id: 42 });
    expect(message['headers']).toMatchObject({ tenant: 'acme', trace: 'a=b' });
    expect(message['properties']).toMatchObject({ priority: 7 });
    expect(message['contentType']).toBe('application/x-msgpack');
  });

  it('publishes a body --count times and prints plain bodies without --json', async () => {
    const url = freshUrl();
    expect((await kelp(publishArgs(url, '--count', '3', 'hello'))).code).toBe(0);
    const consumed = await kelp(['consume', url, '--queue', 'email', '--count', '3']);
    expect(consumed.stdout).toBe('hello\nhello\nhello\n');
    expect(consumed.stderr).toBe('kelp: consumed 3 messages from email\n');
  });

  it('leaves messages in the queue with --requeue and redelivers them', async () => {
    const url = freshUrl();
    await kelp(publishArgs(url, 'peek-me'));
    const peeked = await kelp(['consume', url, '--queue', 'email', '--count', '1', '--requeue', '--json']);
    expect(JSON.parse(peeked.lines[0] ?? '')).toMatchObject({ body: 'peek-me' });
    const taken = await kelp(['consume', url, '--queue', 'email', '--count', '1', '--json']);
    expect(JSON.parse(taken.lines[0] ?? '')).toMatchObject({ body: 'peek-me' });
  });

  it('drops messages with --reject', async () => {
    const url = freshUrl();
    await kelp(publishArgs(url, '--count', '2', 'bad'));
    expect((await kelp(['consume', url, '--queue', 'email', '--count', '2', '--reject'])).code).toBe(0);
    expect((await kelp(['consume', url, '--queue', 'email', '--timeout', '0.1'])).stdout).toBe('');
  });

  it('purges waiting messages and reports how many', async () => {
    const url = freshUrl();
    await kelp(publishArgs(url, '--count', '5', 'x'));
    const purged = await kelp(['purge', url, '--queue', 'email', '--json']);
    expect(purged.code).toBe(0);
    expect(JSON.parse(purged.lines[0] ?? '')).toEqual({ queue: 'email', purged: 5 });
    expect((await kelp(['purge', url, '--queue', 'email'])).stdout).toBe('purged 0 messages from email\n');
  });

  it('binds a consumer queue to a topic exchange given --exchange and --routing-key', async () => {
    const url = freshUrl();
    // Declaring the binding first (consume with a timeout), then publishing to it.
    await kelp(['consume', url, '--queue', 'eu', '--exchange', 'orders', '--type', 'topic', '--routing-key', 'eu.#', '--timeout', '0.05']);
    const published = await kelp(['publish', url, '--exchange', 'orders', '--type', 'topic', '--routing-key', 'eu.fr.paris', '--json', 'order']);
    expect(JSON.parse(published.lines[0] ?? '')).toMatchObject({ routed: 1, queues: ['eu'] });
    const consumed = await kelp(['consume', url, '--queue', 'eu', '--count', '1', '--json']);
    expect(JSON.parse(consumed.lines[0] ?? '')).toMatchObject({ body: 'order', deliveryInfo: { routingKey: 'eu.fr.paris' } });
  });

  it('reports an unroutable message with exit code 1 and one error line', async () => {
    const url = freshUrl();
    const result = await kelp(['publish', url, '--exchange', 'nowhere', '--routing-key', 'k', '--json', 'lost?']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.lines[0] ?? '')).toMatchObject({ published: 1, routed: 0, unroutable: 1 });
    expect(result.stderr).toBe(
      "kelp: error: 1 of 1 message(s) were unroutable: no queue is bound to exchange 'nowhere' with routing key 'k' (add --queue Q to declare and bind one)\n",
    );
  });

  it('with --timeout and no --count, prints every waiting message, then stops once idle', async () => {
    const url = freshUrl();
    await kelp(publishArgs(url, '--count', '25', 'job'));
    const consumed = await kelp(['consume', url, '--queue', 'email', '--timeout', '0.3']);
    expect(consumed.code).toBe(0);
    expect(consumed.lines).toEqual(Array.from({ length: 25 }, () => 'job'));
    expect(consumed.stderr).toBe('kelp: consumed 25 messages from email (no message for 0.3 s)\n');
    expect((await kelp(['consume', url, '--queue', 'email', '--timeout', '0.1'])).stdout).toBe('');
  });

  it('stops on a signal after finishing the message in hand and hands the rest back', async () => {
    const url = freshUrl();
    await kelp(publishArgs(url, '--count', '5', 'job'));
    const stop = new AbortController();
    // The "signal" arrives while the first message is being written, before its ack.
    const io = captureIo({ signal: stop.signal, onStdout: () => stop.abort() });
    const code = await runCli(['consume', url, '--queue', 'email', '--prefetch', '5', '--json'], io.io);
    expect(code).toBe(0);
    expect(io.lines()).toHaveLength(1);
    const rest = await kelp(['consume', url, '--queue', 'email', '--count', '4', '--timeout', '1', '--json']);
    expect(rest.lines).toHaveLength(4);
    // The first message was acked, so only four remain.
    expect((await kelp(['consume', url, '--queue', 'email', '--timeout', '0.1'])).stdout).toBe('');
  });

  it('inspects the exchange binding and the queue length it published to', async () => {
    const url = freshUrl();
    await kelp(publishArgs(url, '--count', '3', 'x'));
    const result = await kelp(['inspect', url, '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.lines[0] ?? '') as { exchanges: { name: string; bindings: unknown[] }[]; queues: { name: string; length: number; unacked: number }[] };
    expect(report.exchanges.find((e) => e.name === 'tasks')?.bindings).toEqual([expect.objectContaining({ queue: 'email', routingKey: 'email' })]);
    expect(report.queues.find((q) => q.name === 'email')).toMatchObject({ length: 3, unacked: 0 });
  });

  it('refuses a URL with an unknown scheme with exit code 2', async () => {
    const result = await kelp(['purge', 'nosuch://host', '--queue', 'q']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(result.stderr).toMatch(/^kelp: error: .*nosuch/);
  });
});

describe('publish --confirm on memory://', () => {
  it('is refused before anything is stored: memory:// has no replicas', async () => {
    const url = freshUrl();
    const published = await kelp(publishArgs(url, '--confirm', '1', 'job'));
    // A ConfigurationError is bad usage for the CLI: exit 2.
    expect([published.code, published.stderr]).toEqual([2, expect.stringContaining('keeps no replicas')]);
    expect((await kelp(['consume', url, '--queue', 'email', '--timeout', '0.2', '--json'])).lines).toEqual([]);
  });

  it('refuses --confirm-timeout without --confirm', async () => {
    const published = await kelp(publishArgs(freshUrl(), '--confirm-timeout', '2', 'job'));
    expect([published.code, published.stderr]).toEqual([2, expect.stringContaining('--confirm-timeout needs --confirm N')]);
  });
});

describe('publish to a queue at its length limit on memory://', () => {
  it('reports the messages a reject-publish queue refused with exit code 1 and names the queue', async () => {
    const url = freshUrl();
    const conn = new Connection(url);
    try {
      await new Queue('capped', { queueArguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish' } }).bind(await conn.defaultChannel()).declare();
      const result = await kelp(['publish', url, '--exchange', '', '--routing-key', 'capped', '--count', '3', '--json', 'job']);
      expect(result.code).toBe(1);
      expect(JSON.parse(result.lines[0] ?? '')).toMatchObject({ published: 3, routed: 2, rejected: 1, unroutable: 0, queues: ['capped'] });
      expect(result.stderr).toBe('kelp: error: 1 of 3 message(s) were refused by a full queue (x-overflow reject-publish): capped\n');
    } finally {
      await conn.close();
    }
  });
});
