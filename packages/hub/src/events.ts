/** Where a failing callback was running when it threw. */
export type HubErrorContext = 'soon' | 'tick' | 'timer' | 'reader' | 'stop';

/**
 * The events a {@link Hub} emits, as a map for Node's typed `EventEmitter<T>`.
 */
export interface HubEvents {
  /**
   * A callback threw. The loop goes on; `context` says which kind of callback it was.
   * Without a listener the error is only recorded in `hub.lastError` and `hub.errorCount`.
   */
  error: [error: unknown, context: HubErrorContext];
}
