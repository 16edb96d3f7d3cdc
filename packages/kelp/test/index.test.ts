/**
 * What importing `kelp` gives a user: the core and hub API in one place and the built-in
 * transports registered on the default registry.
 */
import { describe, expect, it } from 'vitest';
import * as kelp from 'kelp';

describe('the kelp package', () => {
  it('registers memory:// and the Redis schemes on the default transport registry on import', () => {
    const schemes = kelp.defaultRegistry.schemes();
    expect(schemes).toEqual(expect.arrayContaining(['memory', 'redis', 'rediss']));
    expect(kelp.defaultRegistry.resolve('memory')).toBe(kelp.memoryTransport);
    expect(kelp.defaultRegistry.resolve('redis')).toBe(kelp.redisTransport);
  });

  it('creates a memory transport for a memory:// connection', async () => {
    const conn = new kelp.Connection('memory://kelp-index-test');
    try {
      await conn.connect();
      expect(conn.transport.driverName).toBe('memory');
    } finally {
      await conn.close();
    }
  });

  it('re-exports the messaging API, the error tree and the Hub', () => {
    for (const name of ['Connection', 'Exchange', 'Queue', 'Binding', 'Producer', 'Consumer', 'Message', 'SimpleQueue', 'Hub'] as const) {
      expect(typeof kelp[name]).toBe('function');
    }
    expect(new kelp.ConfigurationError('x', { option: 'type' })).toBeInstanceOf(kelp.KelpError);
    const hub = new kelp.Hub();
    expect(hub.running).toBe(false);
    hub.close();
  });

  it('re-exports the topic helpers with Kombu semantics', () => {
    expect(kelp.compileTopicPattern('stock.#')).toBe('^stock\\..*?$');
    expect(kelp.matchTopic('^stock\\..*?$', 'stock.us')).toBe(true);
    expect(kelp.matchTopic('^stock\\..*?$', 'stock')).toBe(false);
  });

  it('lets a user register another transport under a new scheme and remove it again', () => {
    const unregister = kelp.registerTransport({
      aliases: ['kelp-index-test'],
      create: (params) => kelp.memoryTransport.create(params),
    });
    expect(kelp.defaultRegistry.has('kelp-index-test')).toBe(true);
    unregister();
    expect(kelp.defaultRegistry.has('kelp-index-test')).toBe(false);
  });
});
