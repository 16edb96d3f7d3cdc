/**
 * The transport conformance suite: the whole virtual-channel behaviour checked through the public
 * `kelp` API, so every transport (memory://, redis://, third-party ones) can prove it behaves as
 * Kombu's virtual transports do. A transport's test file calls
 *
 * ```ts
 * defineConformanceSuite('memory', { url: () => 'memory://my-file', supportsVisibilityTimeout: false });
 * ```
 *
 * Each test uses fresh queue and exchange names, so one broker (a memory:// name, a Redis db) can
 * serve a whole file; the connections a test opens are closed after it.
 */
import { describe } from 'vitest';
import { ackTests } from './acks.js';
import { badInputTests } from './bad-input.js';
import { compressionTests } from './compression.js';
import { consumeTests } from './consume.js';
import { createSuiteContext, type ConformanceOptions } from './context.js';
import { declarationTests } from './declarations.js';
import { delayedTests } from './delayed.js';
import { getPurgeTests } from './get-purge.js';
import { lifecycleTests } from './lifecycle.js';
import { limitTests } from './limits.js';
import { highLevelTests } from './high-level.js';
import { prefetchTests } from './prefetch.js';
import { priorityTests } from './priorities.js';
import { propertyTests } from './properties.js';
import { queueExpiryTests } from './queue-expiry.js';
import { queueOrderTests } from './queue-order.js';
import { routingTests } from './routing.js';
import { serializationTests } from './serialization.js';
import { simpleQueueTests } from './simple.js';
import { ttlTests } from './ttl.js';
import { visibilityTests } from './visibility.js';

export type { ConformanceOptions } from './context.js';

export function defineConformanceSuite(name: string, options: ConformanceOptions): void {
  describe(`conformance: ${name}`, () => {
    const ctx = createSuiteContext(options);
    routingTests(ctx);
    declarationTests(ctx);
    priorityTests(ctx);
    ackTests(ctx);
    prefetchTests(ctx);
    consumeTests(ctx);
    queueOrderTests(ctx);
    getPurgeTests(ctx);
    serializationTests(ctx);
    compressionTests(ctx);
    propertyTests(ctx);
    simpleQueueTests(ctx);
    badInputTests(ctx);
    visibilityTests(ctx);
    highLevelTests(ctx);
    lifecycleTests(ctx);
    ttlTests(ctx);
    limitTests(ctx);
    delayedTests(ctx);
    queueExpiryTests(ctx);
  });
}
