import { Connection, ConfigurationError, TransportRegistry } from '@kelp/core';
import { describe, expect, it } from 'vitest';
import { createMemoryTransport, MEMORY_OPTION_NAMES } from '../src/index.js';

function memoryRegistry(): TransportRegistry {
  const registry = new TransportRegistry();
  registry.register(createMemoryTransport());
  return registry;
}

function configurationError(fn: () => unknown): ConfigurationError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigurationError) return error;
    throw error;
  }
  throw new Error('expected a ConfigurationError');
}

describe('memory:// transport option names', () => {
  it('rejects visiblity_timeout with a hint to visibilityTimeout instead of keeping the 1 h default', () => {
    const error = configurationError(() => new Connection('memory://', { registry: memoryRegistry(), transportOptions: { visiblity_timeout: 5 } }));
    expect(error.option).toBe('transportOptions.visiblityTimeout');
    expect(error.message).toContain('did you mean visibilityTimeout?');
  });

  it('rejects an unknown URL query option', () => {
    const error = configurationError(() => new Connection('memory://?global_keyprefix=app', { registry: memoryRegistry() }));
    expect(error.option).toBe('transportOptions.globalKeyprefix');
  });

  it('declares every virtual transport option and the maxBodySize alias', () => {
    expect([...MEMORY_OPTION_NAMES].sort()).toEqual(
      [
        'batchSize',
        'bodyEncoding',
        'deadLetterQueues',
        'deadletterQueue',
        'maxBodySize',
        'maxMessageBytes',
        'maxRedeliveries',
        'pollBatchSize',
        'pollingInterval',
        'prioritySteps',
        'queueOrderStrategy',
        'sep',
        'unackedRestoreInterval',
        'visibilityTimeout',
      ].sort(),
    );
  });

  it('takes batchSize (the Redis name) as pollBatchSize, so one options object serves both transports', () => {
    const definition = createMemoryTransport();
    const base = { transport: 'memory', hostname: '', port: undefined, username: undefined, password: undefined, socketPath: undefined, tls: undefined, alternates: [], redactedUrl: 'memory://' };
    const alias = definition.create({ ...base, virtualHost: 'alias', transportOptions: { batchSize: 7 } });
    const both = definition.create({ ...base, virtualHost: 'both', transportOptions: { batchSize: 7, pollBatchSize: 3 } });
    expect([alias.options.pollBatchSize, both.options.pollBatchSize]).toEqual([7, 3]);
  });

  it('accepts known options in both spellings plus the retry options core consumes, and applies them', async () => {
    const conn = new Connection('memory://opts?visibility_timeout=7', {
      registry: memoryRegistry(),
      transportOptions: { maxRetries: 1, interval_start: 0, unackedRestoreInterval: 2 },
    });
    await conn.connect();
    expect(conn.visibilityTimeout).toBe(7);
    await conn.close();
  });
});
