import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../src/errors.js';
import { TransportRegistry } from '../src/transport-registry.js';
import { fakeDefinition, FakeBroker } from './helpers/fake-transport.js';

describe('TransportRegistry', () => {
  it('resolves every alias of a definition, case-insensitively', () => {
    const registry = new TransportRegistry();
    const definition = fakeDefinition(new FakeBroker(), ['fake', 'Fakes']);
    registry.register(definition);
    expect(registry.resolve('FAKE')).toBe(definition);
    expect(registry.resolve('fakes')).toBe(definition);
    expect(registry.schemes()).toEqual(['fake', 'fakes']);
  });

  it('throws a ConfigurationError listing the registered schemes for an unknown one', () => {
    const registry = new TransportRegistry();
    registry.register(fakeDefinition(new FakeBroker(), ['zeta', 'alpha']));
    expect(() => registry.resolve('amqp')).toThrow(ConfigurationError);
    expect(() => registry.resolve('amqp')).toThrow('Registered schemes: alpha, zeta.');
  });

  it('removes exactly its own registrations when the returned function is called', () => {
    const registry = new TransportRegistry();
    const first = fakeDefinition(new FakeBroker(), ['a', 'b']);
    const second = fakeDefinition(new FakeBroker(), ['b']);
    const unregisterFirst = registry.register(first);
    registry.register(second);
    unregisterFirst();
    expect(registry.schemes()).toEqual(['b']);
    expect(registry.resolve('b')).toBe(second);
  });

  it('rejects an alias that is not a URL scheme', () => {
    const registry = new TransportRegistry();
    expect(() => registry.register(fakeDefinition(new FakeBroker(), ['bad scheme']))).toThrow(/not a valid URL scheme/);
  });
});
