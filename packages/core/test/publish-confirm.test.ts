import { describe, expect, it } from 'vitest';
import { AbortedError, ConfigurationError, DEFAULT_CONFIRM_TIMEOUT, parseBasicPublishOptions, Producer, type Channel, type ConfirmOption } from '../src/index.js';
import { parseConfirm } from '../src/publish-confirm.js';
import { FakeChannel } from './helpers/fake-channel.js';

/** The ConfigurationError `fn` throws (fails the test when it throws nothing or something else). */
function configurationError(fn: () => unknown): ConfigurationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error('expected a ConfigurationError');
}

describe('parseConfirm', () => {
  it('reads true as one replica within the default timeout', () => {
    expect(parseConfirm(true, 'publish')).toEqual({ replicas: 1, timeout: DEFAULT_CONFIRM_TIMEOUT });
  });

  it('keeps the replicas and timeout it is given, and defaults the one left out', () => {
    expect([parseConfirm({ replicas: 2, timeout: 0.5 }, 'publish'), parseConfirm({ timeout: 3 }, 'publish')]).toEqual([
      { replicas: 2, timeout: 0.5 },
      { replicas: 1, timeout: 3 },
    ]);
  });

  it('asks for nothing when absent, false, or zero replicas', () => {
    expect([parseConfirm(undefined, 'publish'), parseConfirm(false, 'publish'), parseConfirm({ replicas: 0 }, 'publish')]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('refuses an unknown setting with a did-you-mean', () => {
    const error = configurationError(() => parseConfirm({ replica: 1 } as ConfirmOption, 'publish'));
    expect([error.option, error.message]).toEqual(['replica', expect.stringContaining('did you mean `replicas`?')]);
  });

  it.each([
    [{ replicas: -1 }, 'confirm.replicas'],
    [{ replicas: 1.5 }, 'confirm.replicas'],
    [{ timeout: 0 }, 'confirm.timeout'],
    [{ timeout: Number.POSITIVE_INFINITY }, 'confirm.timeout'],
    [{ timeout: '1' }, 'confirm.timeout'],
    ['yes', 'confirm'],
    [1, 'confirm'],
  ])('refuses %j, naming %s', (value, option) => {
    expect(configurationError(() => parseConfirm(value as ConfirmOption, 'publish')).option).toBe(option);
  });

  it('refuses an unknown basicPublish option with a did-you-mean', () => {
    const error = configurationError(() => parseBasicPublishOptions({ confrim: true } as never));
    expect(error.message).toContain('did you mean `confirm`?');
  });
});

describe('Producer confirm', () => {
  it('passes a publish confirm to basicPublish, validated', async () => {
    const channel = new FakeChannel();
    await new Producer(channel).publish('x', { routingKey: 'q', confirm: { replicas: 2 } });
    expect(channel.published[0]?.options).toEqual({ confirm: { replicas: 2, timeout: DEFAULT_CONFIRM_TIMEOUT } });
  });

  it('applies its default to publishes without their own, and a publish can turn it off', async () => {
    const channel = new FakeChannel();
    const producer = new Producer(channel, { confirm: { replicas: 1, timeout: 2 } });
    await producer.publish('a', { routingKey: 'q' });
    await producer.publish('b', { routingKey: 'q', confirm: false });
    await producer.publish('c', { routingKey: 'q', confirm: { replicas: 3 } });
    expect(channel.published.map((p) => p.options)).toEqual([
      { confirm: { replicas: 1, timeout: 2 } },
      undefined,
      { confirm: { replicas: 3, timeout: DEFAULT_CONFIRM_TIMEOUT } },
    ]);
  });

  it('refuses a bad default when built and a bad publish confirm as a rejection', async () => {
    expect(configurationError(() => new Producer(new FakeChannel(), { confirm: { timeotu: 1 } as ConfirmOption })).message).toContain(
      'did you mean `timeout`?',
    );
    await expect(new Producer(new FakeChannel()).publish('x', { confirm: { timeout: -1 } })).rejects.toMatchObject({
      name: 'ConfigurationError',
      option: 'confirm.timeout',
    });
  });
});

describe('Producer confirm and AbortSignal', () => {
  it('stops waiting for the confirmation when the signal aborts', async () => {
    const waitsForever = new FakeChannel();
    waitsForever.basicPublish = () => new Promise(() => undefined);
    const controller = new AbortController();
    const publishing = new Producer(waitsForever as Channel).publish('x', { routingKey: 'q', confirm: true, signal: controller.signal });
    controller.abort(new Error('shutting down'));
    await expect(publishing).rejects.toBeInstanceOf(AbortedError);
  });
});
