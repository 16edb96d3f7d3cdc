/**
 * A publish whose command was written but never answered when the link died. Found by the
 * redis-restart fault test (1 run in ~10 under load): a publish issued at the instant Redis was
 * SIGKILLed neither succeeded nor failed for 30 s. ioredis keeps a written-but-unanswered command
 * aside to resend after a reconnect, and drops that list when a reconnect attempt reaches a
 * socket (a proxy or load balancer in front of a dead server accepts, then closes): the
 * command's promise then settles only by the 30 s command timeout. Here the proxy makes that
 * sequence happen every time: swallow the command, then accept-and-close every new connection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection, OperationalError } from 'kelp';
import { FaultProxy } from './support/proxy.js';
import { listMessages, sleep } from './support/redis-data.js';
import { FaultRedis } from './support/redis-process.js';

let redis: FaultRedis;
let proxy: FaultProxy;
beforeAll(async () => {
  redis = await FaultRedis.start();
  proxy = await FaultProxy.start({ port: redis.port });
});
afterAll(async () => {
  await proxy?.close();
  await redis?.stop();
});

describe('a command in flight when the link dies', () => {
  it('rejects the publish under the retry policy instead of waiting for the command timeout', { timeout: 30_000 }, async () => {
    const connection = new Connection(proxy.url(2));
    try {
      const producer = connection.Producer({ routingKey: 'in-flight-q' });
      await producer.publish({ id: 'before' }, { routingKey: 'in-flight-q' });

      proxy.pause(); // the next publish is written into the void: no reply, no FIN
      const began = Date.now();
      const outcome = producer
        .publish({ id: 'lost-reply' }, { routingKey: 'in-flight-q', retry: true, retryPolicy: { maxRetries: 2, intervalStart: 0.1, intervalStep: 0.1 } })
        .then(
          () => ({ ok: true as const, ms: Date.now() - began }),
          (error: unknown) => ({ ok: false as const, error, ms: Date.now() - began }),
        );
      await sleep(100);
      proxy.refuse(); // the server is "down" behind a proxy that still accepts
      proxy.dropAll();
      const settled = await Promise.race([outcome, sleep(10_000).then(() => 'hung' as const)]);
      expect(settled).not.toBe('hung');
      if (settled === 'hung') return;
      expect(settled.ok).toBe(false);
      if (!settled.ok) expect(settled.error).toBeInstanceOf(OperationalError);
      expect(settled.ms).toBeLessThan(5_000);

      // Once the server is reachable again the same connection publishes again.
      proxy.forward();
      proxy.resume();
      await producer.publish({ id: 'after' }, { routingKey: 'in-flight-q', retry: true, retryPolicy: { maxRetries: 10, intervalStart: 0.1, intervalStep: 0.1 } });
      // 'lost-reply' may be there or not (the command may have run before the link died): the
      // caller was told OperationalError, which is the truth ("unknown"), not a silent drop.
      const ids = (await listMessages(redis.admin(2), 'in-flight-q')).map((m) => (m.body as { id: string }).id);
      expect(ids).toContain('before');
      expect(ids).toContain('after');
    } finally {
      proxy.forward();
      proxy.resume();
      await connection.close({ timeout: 2 });
    }
  });
});
