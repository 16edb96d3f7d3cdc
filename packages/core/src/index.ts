/**
 * @kelp/core: kelp's public messaging API and the transport interface transports implement.
 */
export { Binding } from './binding.js';
export { CompressionRegistry, brotliCompressor, compress, createCompressionRegistry, decompress, defaultCompressors, registerCompressor, zlibCompressor, type Compressed, type CompressorDefinition } from './compression/registry.js';
export type * from './connection-params.js';
export { Consumer, DEFAULT_STOP_TIMEOUT, type ChannelProvider, type ConsumerCallback, type ConsumerOptions, type ConsumerSource, type KeepAliveOptions } from './consumer.js';
export * from './errors.js';
export { Exchange, type DeliveryModeOption, type ExchangeOptions } from './exchange.js';
export { forgetDeclarations, maybeDeclare, type Declarable } from './maybe-declare.js';
export { MessageIterator, type DrainableConnection, type WaitOptions } from './message-iterator.js';
export { OptionNames, parseOptions } from './option-parsing.js';
export { processConcurrently, type ProcessConcurrentlyOptions } from './process-concurrently.js';
export type * from './message-types.js';
export { Message, type MessageOptions, type MessageState } from './message.js';
export { Producer, type ChannelOrConnection, type ConnectionLike, type ProducerOptions, type PublishOptions, type RetryRunner } from './producer.js';
export {
  DEFAULT_CONFIRM_TIMEOUT,
  parseBasicPublishOptions,
  type BasicPublishOptions,
  type ConfirmOption,
  type ConfirmSettings,
  type PublishConfirm,
} from './publish-confirm.js';
export { parseDeliverAt, parseDelay } from './delivery-delay.js';
export { Queue, type QueueOptions } from './queue.js';
export type * from './retry-policy-types.js';
export { jsonSerializer, msgpackSerializer, rawSerializer, textSerializer } from './serialization/builtins.js';
export { createSerializerRegistry, defaultSerializers, disableSerializer, dumps, enableSerializer, loads, registerSerializer, unregisterSerializer } from './serialization/default-registry.js';
export { SerializerRegistry, TRUSTED_CONTENT_TYPES, type SerializerDefinition, type Serialized } from './serialization/registry.js';
export { SimpleBuffer, SimpleQueue, type SimpleQueueOptions } from './simple.js';
export type * from './admin-types.js';
export type * from './transport.js';
export { Connection } from './connection.js';
export { ENSURE_DEFAULTS, tlsOptionsSchema, type ConnectionEvents, type ConnectionOptions, type ConnectionState, type EnsureConnectionOptions, type EnsureOptions } from './connection-options.js';
export type { DrainOptions } from './drain.js';
export type { FailoverIterator, FailoverStrategy } from './failover.js';
export { DEFAULT_RETRY_POLICY, retryOver, sleep, type RetryOverOptions } from './retry.js';
export { TransportRegistry, defaultRegistry, registerTransport } from './transport-registry.js';
export { parseUrl, redactUrl, splitUrls, type ParseUrlOptions } from './url.js';
export { sanitizeError, secretVariants } from './redaction.js';
export { ConnectionPool, DEFAULT_POOL_LIMIT, PoolGroup, ProducerPool, ResourcePool, pools, type AcquireOptions, type ConnectionPoolOptions, type ProducerPoolOptions, type ResourcePoolOptions } from './pools.js';
export { ConsumerWorker, type ConsumerWorkerOptions, type ConsumerWorkerState, type WorkerConsumer } from './worker.js';
