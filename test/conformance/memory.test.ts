/**
 * The conformance suite on the embedded memory:// transport. The broker name is unique to this
 * file, so it shares no state with other test files running in the same worker.
 */
import { defineConformanceSuite } from './suite.js';

const broker = `conformance-${process.pid}-${Date.now().toString(36)}`;

defineConformanceSuite('memory', {
  url: () => `memory://${broker}`,
  supportsVisibilityTimeout: true,
});
