/**
 * Search by text over waiting messages, unacked messages and dead letters, with a bound: it reads
 * at most `limit` messages in all (oldest first in each list), streams each match as one NDJSON
 * line as soon as it is found, reports progress, and stops as soon as the client goes away.
 * A body is matched decoded (Kombu stores bodies base64-encoded), headers as their JSON text.
 * Bytes are bounded too: a page holds about SEARCH_PAGE_BYTES of messages, and a message is
 * matched on its first SEARCH_MATCH_CHARS characters only.
 */
import { Buffer } from 'node:buffer';
import type { StoredBytes, TransportAdmin, TransportAdminRepair } from 'kelp';
import { LIST_LIMIT, SEARCH_MATCH_CHARS, SEARCH_PAGE_BYTES } from './limits.js';
import { viewMessage } from './message-view.js';

export interface SearchRequest {
  text: string;
  /** One queue, or every queue the overview lists. */
  queue?: string;
  limit: number;
}

const PAGE = 1000;
/** The first page's count, before any message size is known. */
const FIRST_PAGE = 10;
const PROGRESS_EVERY = 5000;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The text a search looks in: the stored text, and the body decoded when it is base64. */
export function searchableText(message: StoredBytes): string {
  if (message.rawEncoding !== 'utf8') return Buffer.from(message.raw.slice(0, Math.ceil((SEARCH_MATCH_CHARS * 4) / 3)), 'base64').toString('latin1');
  // Beyond the bound only the start of the stored text is matched (its body is not decoded).
  if (message.raw.length > SEARCH_MATCH_CHARS) return message.raw.slice(0, SEARCH_MATCH_CHARS);
  const raw = message.raw;
  try {
    const envelope = JSON.parse(raw) as { body?: unknown; properties?: { body_encoding?: unknown } };
    if (typeof envelope.body === 'string' && envelope.properties?.body_encoding === 'base64') {
      let body: string;
      try {
        body = strictUtf8.decode(Buffer.from(envelope.body, 'base64'));
      } catch {
        body = '';
      }
      return `${raw}\n${body}`;
    }
  } catch {
    // Not JSON: the stored text is all there is.
  }
  return raw;
}

type Line = Record<string, unknown>;

export async function* runSearch(admin: TransportAdmin & TransportAdminRepair, request: SearchRequest, signal: AbortSignal): AsyncGenerator<Line> {
  const needle = request.text.toLowerCase();
  const matches = (message: StoredBytes) => searchableText(message).toLowerCase().includes(needle);
  let scanned = 0;
  let found = 0;
  let nextProgress = PROGRESS_EVERY;
  const budget = () => request.limit - scanned;
  // Pages are sized by bytes: SEARCH_PAGE_BYTES over the largest message seen so far.
  let largest = 0;
  const pageSize = () => Math.min(PAGE, budget(), largest === 0 ? FIRST_PAGE : Math.max(1, Math.floor(SEARCH_PAGE_BYTES / largest)));
  const measure = (items: readonly StoredBytes[]) => {
    for (const item of items) largest = Math.max(largest, item.raw.length);
  };
  const progress = function* (): Generator<Line> {
    if (scanned >= nextProgress) {
      nextProgress = scanned + PROGRESS_EVERY;
      yield { type: 'progress', scanned, matches: found };
    }
  };

  const report = await admin.inspect({ signal });
  const queues = report.queues.filter((q) => request.queue === undefined || q.name === request.queue);

  for (const queue of queues) {
    for (const step of Object.keys(queue.priorityLengths ?? {}).map(Number)) {
      for (let offset = 0; budget() > 0; ) {
        signal.throwIfAborted();
        const page = await admin.messages(queue.name, { step, order: 'oldest', offset, limit: pageSize(), signal });
        offset += page.items.length;
        measure(page.items);
        scanned += page.items.length;
        for (const item of page.items) {
          if (!matches(item)) continue;
          found++;
          yield { type: 'match', source: 'waiting', queue: queue.name, step, position: item.position, id: item.id, view: viewMessage(item.raw, item.rawEncoding, LIST_LIMIT) };
        }
        yield* progress();
        if (page.items.length === 0 || offset >= page.total) break;
      }
    }
  }

  // Unacked records are read unfiltered, oldest first, and matched to the queue here: the
  // offset is then a count of records read, and each is read once.
  for (let offset = 0; budget() > 0; ) {
    signal.throwIfAborted();
    const asked = pageSize();
    const page = await admin.unacked({ offset, limit: asked, signal });
    offset += page.items.length;
    measure(page.items);
    scanned += page.items.length;
    for (const item of page.items) {
      if (request.queue !== undefined && !item.queues.includes(request.queue)) continue;
      if (!matches(item)) continue;
      found++;
      yield { type: 'match', source: 'unacked', queue: item.queues.join(', '), tag: item.tag, view: viewMessage(item.raw, item.rawEncoding, LIST_LIMIT) };
    }
    yield* progress();
    if (page.items.length < asked) break;
  }

  for (const queue of queues) {
    if (budget() <= 0) break;
    if ((queue.deadLetters ?? 0) === 0) continue;
    signal.throwIfAborted();
    const entries = await admin.deadLetters(queue.name, { limit: budget(), signal });
    scanned += entries.length;
    for (const entry of entries) {
      if (!matches(entry)) continue;
      found++;
      yield { type: 'match', source: 'dead', queue: queue.name, id: entry.id ?? null, reason: entry.reason, view: viewMessage(entry.raw, entry.rawEncoding, LIST_LIMIT) };
    }
    yield* progress();
  }
  yield { type: 'done', scanned, matches: found, bounded: scanned >= request.limit };
}
