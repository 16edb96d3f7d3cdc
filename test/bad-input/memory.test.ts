/** Raw-envelope robustness on memory://, writing straight into the broker's lists. */
import { memoryTransport } from 'kelp';
import { defineEnvelopeSuite } from './envelopes.js';

const broker = `bad-input-${process.pid}-${Date.now().toString(36)}`;

defineEnvelopeSuite('memory', {
  url: () => `memory://${broker}`,
  inject: async (queue, raw) => {
    memoryTransport.broker(broker).put(queue, raw, 0);
  },
});
