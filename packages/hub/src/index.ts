/**
 * `@kelp/hub`: the event Hub (timers, tick callbacks, readiness callbacks), after
 * `kombu.asynchronous.Hub`. Knows nothing about messaging; all times are in milliseconds.
 */
export { Hub, type HubOptions, type RunUntilOptions, type ReaderCallback } from './hub.js';
export { type TimerHandle } from './handles.js';
export { type Clock, type ManualClockOptions, ManualClock, systemClock } from './clock.js';
export { type HubEvents, type HubErrorContext } from './events.js';
export { HubError } from './errors.js';
