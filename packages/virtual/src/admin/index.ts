/** The operator tools (`transport.admin`) written once over a transport's storage hooks. */
export { VirtualAdmin, restoreReport } from './virtual-admin.js';
export type { AdminDelayed, AdminStorage, ExpiredRestore, MoveStep, QueueDepth, RestoredMessage, StoredDeadLetter, UnackedRecord, UnackedView } from './admin-storage.js';
export { deadLetterId, messageId, rerouted, unackedPageBounds, UNACKED_SCAN_LIMIT, DELETE_SCAN_LIMIT } from './admin-repair.js';
export { AdminRouter, impliedExchangeType, type RoutingSource } from './admin-routing.js';
export { noRouteReason, fallbackQueue, planRestore, type RestoreDecision, type RoutedEntry } from './restore-plan.js';
export { requeueableEnvelope, type RequeueableEnvelope } from './requeue.js';
