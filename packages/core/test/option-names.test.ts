import { describe, expect, it } from 'vitest';
import { Connection } from '../src/connection.js';
import { ConfigurationError } from '../src/errors.js';
import { closestName, editDistance } from '../src/option-names.js';
import { TransportRegistry } from '../src/transport-registry.js';
import { parseUrl } from '../src/url.js';
import { fakeDefinition, FakeBroker } from './helpers/fake-transport.js';

/** A registry whose fake:// transport declares the option names it accepts. */
function strictRegistry(optionNames: readonly string[] | 'none' = ['visibilityTimeout', 'prioritySteps']): TransportRegistry {
  const registry = new TransportRegistry();
  registry.register({ ...fakeDefinition(new FakeBroker()), ...(optionNames === 'none' ? {} : { optionNames }) });
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

describe('editDistance and closestName', () => {
  it('counts one edit for a dropped letter, ignoring case', () => {
    expect([editDistance('visiblityTimeout', 'visibilityTimeout'), editDistance('SEP', 'sep'), editDistance('', 'abc')]).toEqual([1, 0, 3]);
  });

  it('suggests the closest accepted name only when it is close enough to be a typo', () => {
    expect([closestName('visiblityTimeout', ['sep', 'visibilityTimeout']), closestName('color', ['sep', 'visibilityTimeout'])]).toEqual([
      'visibilityTimeout',
      undefined,
    ]);
  });

  it('reads snake_case as the camelCase name and a name cut short as the full one', () => {
    const accepted = ['block', 'prefetchCount', 'routingKey', 'maxRetries'];
    expect(['routing_key', 'prefetch', 'blocking', 'maxRetry', 'pre'].map((name) => closestName(name, accepted))).toEqual([
      'routingKey',
      'prefetchCount',
      'block',
      'maxRetries',
      undefined,
    ]);
  });
});

describe('unknown transport options', () => {
  it('rejects a misspelt URL query option, naming it, the closest name and the accepted ones', () => {
    const error = configurationError(() => parseUrl('fake://h:1/?visiblity_timeout=5', { registry: strictRegistry() }));
    expect(error.option).toBe('transportOptions.visiblityTimeout');
    expect(error.message).toContain('Unknown transport option "visiblityTimeout"');
    expect(error.message).toContain('did you mean visibilityTimeout?');
    expect(configurationError(() => parseUrl('fake://h:1/?colour=red', { registry: strictRegistry() })).message).toContain('fake://h:1/?colour=red. Accepted');
    expect(error.message).toContain('Accepted (camelCase or snake_case): intervalMax, intervalStart, intervalStep, maxRetries, prioritySteps, visibilityTimeout');
  });

  it('rejects a misspelt option given to the Connection in snake_case', () => {
    const error = configurationError(() => new Connection('fake://h:1/', { registry: strictRegistry(), transportOptions: { visiblity_timeout: 5 } }));
    expect([error.option, /did you mean visibilityTimeout\?/.test(error.message)]).toEqual(['transportOptions.visiblityTimeout', true]);
  });

  it('accepts the declared names and the retry options core consumes itself', () => {
    const params = parseUrl('fake://h:1/?visibility_timeout=5&max_retries=2&interval_start=0&interval_step=1&interval_max=3', {
      registry: strictRegistry(),
    });
    expect(params.transportOptions).toEqual({ visibilityTimeout: 5, maxRetries: 2, intervalStart: 0, intervalStep: 1, intervalMax: 3 });
  });

  it('accepts any option for a transport that declares no names', () => {
    expect(parseUrl('fake://h:1/?anything_goes=1', { registry: strictRegistry('none') }).transportOptions).toEqual({ anythingGoes: 1 });
  });

  it('hides the password of the URL in the message', () => {
    const error = configurationError(() => parseUrl('fake://u:pw-secret@h:1/?typo_option=1', { registry: strictRegistry() }));
    expect([error.message.includes('pw-secret'), error.message.includes('fake://u:**@h:1/')]).toEqual([false, true]);
  });
});
