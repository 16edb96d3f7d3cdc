/**
 * @kelp/virtual: AMQP emulation written once for kelp's virtual transports (Kombu's
 * `kombu/transport/virtual`), for transport authors. A broker implements {@link ChannelStorage}
 * (a {@link VirtualChannel} runs over it), {@link VirtualTransport}'s lifecycle, and the admin hooks
 * of {@link VirtualAdmin}; everything else (declarations, routing, the Kombu envelope, QoS, acks,
 * restores, fair queue cycling, the Hub-driven poller) is here.
 *
 * Helpers kelp's own transports share but nobody else should depend on are in
 * `@kelp/virtual/internal`.
 */
export {
  createQueueCycle,
  PriorityCycle,
  QueueOrderStrategies,
  queueOrderStrategies,
  registerQueueOrderStrategy,
  RoundRobinCycle,
  SortedCycle,
  type QueueCycle,
  type QueueCycleFactory,
} from './cycle.js';
export {
  DELIVERY_COUNT_HEADER,
  deliveryCount,
  encodeEnvelope,
  envelopeToDelivery,
  markRedelivered,
  markRedeliveredInPlace,
  parseEnvelope,
  readAckInfo,
  readDeliveryTag,
  type EncodeEnvelopeOptions,
  type EnvelopeAckInfo,
  type EnvelopeDeliveryContext,
  type ParsedEnvelope,
  type ParseEnvelopeResult,
} from './envelope.js';
export { BrokerState, prepareBinding, routeTable, type BindingRow, type ExchangeDeclaration, type LocalBinding } from './exchange.js';
export type { EventLoopHub, HubTimer, Poller, PollerHost } from './generic-poller.js';
export { MIN_QUEUE_EXPIRES_MS, QUEUE_TOUCH_INTERVAL_MS, QUEUE_TOUCH_TICK_MS, queueExpires, queueTouchInterval, startQueueTouches } from './queue-expiry.js';
export { DELAYED_MOVE_BATCH, DELAYED_SWEEP_INTERVAL_MS, DELAYED_WAKE_GAP_MS, DelayedMover, type DelayedMoverHost } from './delayed-mover.js';
export {
  deadLetterOptionsShape,
  parseTransportOptions,
  parseVirtualTransportOptions,
  virtualTransportOptionsSchema,
  type VirtualTransportOptions,
  type VirtualTransportOptionsInput,
} from './options.js';
export {
  EXPIRED_REASON,
  EXPIRES_AT_MEMBER,
  envelopeDeadline,
  payloadDeadline,
  queueMessageTtl,
  stampedDeadline,
  withDeadline,
} from './message-expiry.js';
export * from './priority.js';
export { MAXLEN_REASON, QueueLimitRefusal, queueLengthLimits, type LengthLimits, type Overflow } from './queue-limits.js';
export type * from './storage-types.js';
export { compileTopicPattern, matchTopic, TopicPatternCache, topicMatches } from './topic.js';
export type * from './channel-host.js';
export type * from './channel-storage.js';
export * from './virtual-channel.js';
export { CHANNEL_MAX, VirtualTransport, type VirtualTransportInit } from './virtual-transport.js';
export * from './admin/index.js';
