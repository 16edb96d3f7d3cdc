/**
 * ChannelDeclarations alone: what declaring, binding and deleting write to the storage and to the
 * process's BrokerState.
 */
import { NotFoundError } from '@kelp/core';
import { describe, expect, it } from 'vitest';
import { ChannelDeclarations } from '../src/channel-declarations.js';
import { BrokerState, encodeEnvelope, prepareBinding } from '../src/index.js';
import { queueArguments } from '../src/queue-arguments.js';
import { message, TestStorage, TestStore } from './helpers/test-storage.js';

function setup(consumers: Record<string, number> = {}) {
  const store = new TestStore();
  const brokerState = new BrokerState('testvh');
  const declarations = new ChannelDeclarations({ storage: new TestStorage(store), brokerState, consumerCount: (queue) => consumers[queue] ?? 0 });
  return { store, brokerState, declarations };
}

const envelope = (body: string) => encodeEnvelope(message(body), '', 'q', `tag-${body}`);

describe('queueDeclare', () => {
  it('names an anonymous queue amq.gen-<uuid> and remembers autoDelete and arguments', async () => {
    const { declarations, brokerState } = setup();
    const result = await declarations.queueDeclare('', { autoDelete: true, arguments: { 'x-dead-letter': true } });
    expect(result.queue).toMatch(/^amq\.gen-[0-9a-f-]{36}$/);
    expect(result.messageCount).toBe(0);
    expect(brokerState.autoDeleteQueues.has(result.queue)).toBe(true);
    expect(queueArguments(brokerState, result.queue)).toEqual({ 'x-dead-letter': true });
  });

  it('counts the waiting messages and the consumers of every channel', async () => {
    const { declarations, store } = setup({ q: 2 });
    store.list('q').push(envelope('a'), envelope('b'));
    expect(await declarations.queueDeclare('q')).toEqual({ queue: 'q', messageCount: 2, consumerCount: 2 });
  });

  it('refuses a passive declare of a queue the storage does not have, naming the vhost', async () => {
    const { declarations } = setup();
    await expect(declarations.queueDeclare('nope', { passive: true })).rejects.toThrow(
      new NotFoundError("NOT_FOUND - no queue 'nope' in vhost 'testvh'"),
    );
  });
});

describe('queueBind and queueUnbind', () => {
  it('binds the default exchange as amq.direct and stores a binding once however often it is bound', async () => {
    const { declarations, store } = setup();
    await declarations.queueBind('q', '', 'k');
    await declarations.queueBind('q', '', 'k');
    expect(store.tables.get('amq.direct')).toEqual([prepareBinding('direct', 'k', 'q')]);
    await declarations.queueUnbind('q', '', 'k');
    expect(store.tables.get('amq.direct')).toEqual([]);
  });
});

describe('queueDelete', () => {
  it('keeps a queue with consumers under ifUnused and a queue with messages under ifEmpty', async () => {
    const { declarations, store } = setup({ busy: 1 });
    store.list('busy').push(envelope('a'));
    store.list('full').push(envelope('b'));
    expect(await declarations.queueDelete('busy', { ifUnused: true })).toBe(0);
    expect(await declarations.queueDelete('full', { ifEmpty: true })).toBe(0);
    expect([store.queues.has('busy'), store.queues.has('full')]).toEqual([true, true]);
  });

  it('removes the queue, its stored binding rows and its local bindings, and says how many messages it held', async () => {
    const { declarations, store, brokerState } = setup();
    brokerState.declareExchange('dx', { type: 'direct' });
    await declarations.queueBind('q', 'dx', 'k');
    store.list('q').push(envelope('a'), envelope('b'));
    expect(await declarations.queueDelete('q')).toBe(2);
    expect([store.queues.has('q'), store.tables.get('dx'), brokerState.queueBindings('q')]).toEqual([false, [], []]);
  });
});

describe('exchangeDelete', () => {
  it('keeps an exchange with bindings under ifUnused', async () => {
    const { declarations, store, brokerState } = setup();
    brokerState.declareExchange('dx', { type: 'direct' });
    await declarations.queueBind('q', 'dx', 'k');
    await declarations.exchangeDelete('dx', { ifUnused: true });
    expect([brokerState.exchanges.has('dx'), store.tables.get('dx')?.length]).toEqual([true, 1]);
  });

  it('removes its binding rows and deletes bound queues that are empty and unused', async () => {
    const { declarations, store, brokerState } = setup();
    brokerState.declareExchange('dx', { type: 'direct' });
    await declarations.queueBind('empty', 'dx', 'k');
    await declarations.queueBind('full', 'dx', 'k');
    store.list('empty');
    store.list('full').push(envelope('a'));
    await declarations.exchangeDelete('dx');
    expect([brokerState.exchanges.has('dx'), store.tables.get('dx')]).toEqual([false, []]);
    expect([store.queues.has('empty'), store.queues.has('full')]).toEqual([false, true]);
  });

  it('leaves the default exchange undeclared (it always exists)', async () => {
    const { declarations, brokerState } = setup();
    const before = brokerState.revision;
    await declarations.exchangeDeclare('', { type: 'direct' });
    expect(brokerState.revision).toBe(before);
  });
});
