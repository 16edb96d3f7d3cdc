/**
 * @kelp/core: kelp's public messaging API and the transport interface transports implement.
 */
export * from './errors.js';
export type * from './message-types.js';
export type * from './transport.js';
export type * from './connection-params.js';
