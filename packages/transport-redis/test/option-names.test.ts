import { ConfigurationError, parseUrl, TransportRegistry } from '@kelp/core';
import { describe, expect, it } from 'vitest';
import { createRedisTransport, REDIS_OPTION_NAMES, redisTransportOptionsSchema } from '../src/index.js';

function redisRegistry(): TransportRegistry {
  const registry = new TransportRegistry();
  registry.register(createRedisTransport());
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

describe('redis transport option names', () => {
  it('rejects visiblity_timeout in the URL with a hint to visibilityTimeout and the accepted names', () => {
    const error = configurationError(() => parseUrl('redis://:pw@h:6379/0?visiblity_timeout=5', { registry: redisRegistry() }));
    expect(error.option).toBe('transportOptions.visiblityTimeout');
    expect(error.message).toContain('did you mean visibilityTimeout?');
    expect(error.message).toContain('unackedRestoreThrottle');
    expect(error.message).not.toContain(':pw@');
  });

  it('rejects an unknown option given as an object, for rediss:// too', () => {
    const error = configurationError(() => parseUrl('rediss://h:6379/0', { registry: redisRegistry(), transportOptions: { health_check_intervall: 5 } }));
    expect([error.option, error.message.includes('did you mean healthCheckInterval?')]).toEqual(['transportOptions.healthCheckIntervall', true]);
  });

  it('declares every schema option', () => {
    expect(Object.keys(redisTransportOptionsSchema.shape).filter((name) => !REDIS_OPTION_NAMES.includes(name))).toEqual([]);
  });

  it('accepts a Celery broker_transport_options copied as is, with the retry options core consumes', () => {
    const transportOptions = {
      visibility_timeout: 3600,
      fanout_prefix: true,
      fanout_patterns: true,
      socket_keepalive: true,
      retry_on_timeout: true,
      max_retries: 3,
      interval_start: 0,
      interval_step: 0.2,
      interval_max: 0.5,
      global_keyprefix: 'app:',
      polling_interval: 1,
    };
    const params = parseUrl('redis://h:6379/0?unacked_restore_throttle=1', { registry: redisRegistry(), transportOptions });
    expect(Object.keys(params.transportOptions).sort()).toEqual(
      [
        'fanoutPatterns',
        'fanoutPrefix',
        'globalKeyprefix',
        'intervalMax',
        'intervalStart',
        'intervalStep',
        'maxRetries',
        'pollingInterval',
        'retryOnTimeout',
        'socketKeepalive',
        'unackedRestoreThrottle',
        'visibilityTimeout',
      ].sort(),
    );
  });
});
