/**
 * The one error class of the hub. The hub sits below `@kelp/core` in the layering and may import
 * nothing, so it cannot use core's `KelpError` tree; core wraps or maps this class where needed.
 */
export class HubError extends Error {
  /** Creates a hub error; pass `{ cause }` to keep the underlying error. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HubError';
  }
}
