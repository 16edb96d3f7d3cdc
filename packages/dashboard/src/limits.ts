/** Body text in lists stops at LIST_LIMIT characters; one message's own view shows up to DETAIL_LIMIT. */
export const LIST_LIMIT = 200;
export const DETAIL_LIMIT = 64 * 1024;
