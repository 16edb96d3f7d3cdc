/**
 * `@kelp/virtual/internal`: helpers kelp's own transports share with the virtual layer. Not part
 * of the public API: they change without notice.
 */
export { RecycleCounter } from './recycle-counter.js';
export { moveTakenAside } from './channel-admission.js';
export { GenericPoller } from './generic-poller.js';
