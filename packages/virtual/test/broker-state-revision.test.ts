import { describe, expect, it } from 'vitest';
import { BrokerState } from '../src/exchange.js';

describe('BrokerState.revision', () => {
  it('moves on every change of exchanges or bindings, and only then', () => {
    const state = new BrokerState();
    const seen: number[] = [state.revision];
    const step = (change: () => unknown) => {
      change();
      seen.push(state.revision);
    };
    const binding = { queue: 'q', exchange: 'fx', routingKey: '' };
    step(() => state.declareExchange('fx', { type: 'fanout' }));
    step(() => state.declareExchange('fx', { type: 'fanout' })); // the same again: no change
    step(() => state.addBinding(binding));
    step(() => state.addBinding(binding)); // known already
    step(() => state.removeBinding(binding));
    step(() => state.addBinding(binding));
    step(() => state.deleteQueueBindings('q'));
    step(() => state.deleteQueueBindings('q')); // nothing left
    step(() => state.deleteExchange('fx'));
    step(() => state.deleteExchange('fx'));
    expect(seen).toEqual([0, 1, 1, 2, 2, 3, 4, 5, 5, 6, 6]);
  });
});
