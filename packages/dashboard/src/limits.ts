/** Body text in lists stops at LIST_LIMIT characters; one message's own view shows up to DETAIL_LIMIT. */
export const LIST_LIMIT = 200;
export const DETAIL_LIMIT = 64 * 1024;
/**
 * Bytes of stored messages a list page (waiting or unacked) holds: it is read in small chunks
 * and stops before the next chunk once this much is read, answering with fewer items
 * (`limitedByBytes`). A single message is read whole.
 */
export const LIST_PAGE_BYTES = 4 * 1024 * 1024;
/** Messages a list page reads per chunk. */
export const LIST_CHUNK = 25;
/**
 * Bytes of stored messages a search page holds: the next page's message count is this over the
 * largest message seen so far (1 to 1000). A single message is read whole.
 */
export const SEARCH_PAGE_BYTES = 8 * 1024 * 1024;
/** A search matches the first this many characters of a stored message (headers and body). */
export const SEARCH_MATCH_CHARS = 1024 * 1024;
