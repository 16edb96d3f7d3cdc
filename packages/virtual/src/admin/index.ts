/** The operator tools (`transport.admin`) written once over a transport's storage hooks. */
export { VirtualAdmin, restoreReport } from './virtual-admin.js';
export type { AdminDelayed, AdminStorage, QueueDepth, ExpiredRestore, RestoredMessage, StoredDeadLetter, UnackedView } from './admin-storage.js';
export { AdminRouter, impliedExchangeType, type RoutingSource } from './admin-routing.js';
export { noRouteReason, fallbackQueue, planRestore, type RestoreDecision, type RoutedEntry } from './restore-plan.js';
export { requeueableEnvelope, type RequeueableEnvelope } from './requeue.js';
