/**
 * @kelp/virtual: AMQP emulation written once for kelp's virtual transports (Kombu's
 * `kombu/transport/virtual`). A broker subclasses {@link VirtualChannel} and fills its storage
 * hooks, and {@link VirtualTransport} for the lifecycle; everything else (declarations, routing,
 * the Kombu envelope, QoS, acks, restores, fair queue cycling, the Hub-driven poller) is here.
 */
export * from './cycle.js';
export * from './envelope.js';
export * from './exchange.js';
export * from './generic-poller.js';
export * from './options.js';
export * from './priority.js';
export * from './python-json.js';
export * from './qos.js';
export * from './recycle-counter.js';
export type * from './storage-types.js';
export * from './topic.js';
export * from './typed-emitter.js';
export * from './channel-base.js';
export * from './virtual-channel.js';
export * from './virtual-transport.js';
export * from './delivery-checks.js';
export * from './admin/index.js';
