/** Read routes beyond the overview: waiting messages, unacked messages and the streamed search. */
import type { Hono } from 'hono';
import type { AppContext } from './context.js';
import { BadRequest, queryChoice, queryInt } from './http-input.js';
import { DETAIL_LIMIT, LIST_CHUNK, LIST_LIMIT, LIST_PAGE_BYTES } from './limits.js';
import { viewMessage } from './message-view.js';
import { repairOf } from './repair.js';
import { runSearch } from './search.js';

/**
 * Reads up to `limit` items in chunks of LIST_CHUNK, stopping once LIST_PAGE_BYTES of stored
 * messages are held: a page of large messages comes back shorter, with `limitedByBytes`.
 */
async function readByBytes<P extends { items: { raw: string }[] }>(
  offset: number,
  limit: number,
  read: (offset: number, count: number) => Promise<P>,
): Promise<{ page: P; items: P['items']; limitedByBytes: boolean }> {
  const items: P['items'] = [];
  let bytes = 0;
  let page: P | undefined;
  for (;;) {
    const count = Math.min(LIST_CHUNK, limit - items.length);
    page = await read(offset + items.length, count);
    items.push(...page.items);
    for (const item of page.items) bytes += item.raw.length;
    if (page.items.length < count || items.length >= limit) return { page, items, limitedByBytes: false };
    if (bytes >= LIST_PAGE_BYTES) return { page, items, limitedByBytes: true };
  }
}

export function readRoutes(app: Hono, ctx: AppContext): void {
  app.get('/api/queues/:queue/messages', async (c) => {
    const admin = repairOf(ctx.admin, ctx.transportName);
    const limit = queryInt(c, 'limit', 25, { min: 1, max: 200 });
    // One message (or a few) may be shown whole; a list shows the start of each body.
    const full = c.req.query('full') === '1' && limit <= 5;
    const step = queryInt(c, 'step', 0, { min: 0, max: 255 });
    const order = queryChoice(c, 'order', ['oldest', 'newest'] as const, 'oldest');
    const offset = queryInt(c, 'offset', 0, { min: 0, max: Number.MAX_SAFE_INTEGER });
    const queue = c.req.param('queue');
    const signal = c.req.raw.signal;
    const { page, items, limitedByBytes } = await readByBytes(offset, limit, (from, count) => admin.messages(queue, { step, order, offset: from, limit: count, signal }));
    return c.json({
      ...page,
      offset,
      limitedByBytes,
      items: items.map((item) => ({ id: item.id, position: item.position, view: viewMessage(item.raw, item.rawEncoding, full ? DETAIL_LIMIT : LIST_LIMIT) })),
    });
  });

  app.get('/api/unacked', async (c) => {
    const admin = repairOf(ctx.admin, ctx.transportName);
    const queue = c.req.query('queue');
    const offset = queryInt(c, 'offset', 0, { min: 0, max: Number.MAX_SAFE_INTEGER });
    const limit = queryInt(c, 'limit', 25, { min: 1, max: 200 });
    const signal = c.req.raw.signal;
    const { page, items, limitedByBytes } = await readByBytes(offset, limit, (from, count) => admin.unacked({ ...(queue ? { queue } : {}), offset: from, limit: count, signal }));
    const now = Date.now() / 1000;
    return c.json({
      total: page.total,
      scanned: page.scanned,
      limitedByBytes,
      items: items.map((item) => ({
        tag: item.tag,
        queues: item.queues,
        exchange: item.exchange,
        routingKey: item.routingKey,
        age: item.since === undefined ? null : Math.max(0, now - item.since),
        view: viewMessage(item.raw, item.rawEncoding, LIST_LIMIT),
      })),
    });
  });

  app.get('/api/search', (c) => {
    const admin = repairOf(ctx.admin, ctx.transportName);
    const text = c.req.query('text') ?? '';
    if (text.length < 1 || text.length > 200) throw new BadRequest('text must be 1 to 200 characters');
    const queue = c.req.query('queue');
    const limit = queryInt(c, 'limit', ctx.searchLimit, { min: 1, max: ctx.searchLimit });
    // The request's signal aborts when the client goes away; cancel() covers a reader that stops.
    const stop = new AbortController();
    c.req.raw.signal.addEventListener('abort', () => stop.abort(), { once: true });
    const lines = runSearch(admin, { text, limit, ...(queue ? { queue } : {}) }, stop.signal);
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await lines.next();
          if (next.done) controller.close();
          else controller.enqueue(encoder.encode(`${JSON.stringify(next.value)}\n`));
        } catch (error) {
          if (stop.signal.aborted) return controller.close();
          controller.enqueue(encoder.encode(`${JSON.stringify({ type: 'error', error: ctx.scrubber.scrub(error instanceof Error ? error.message : String(error)) })}\n`));
          controller.close();
        }
      },
      cancel() {
        stop.abort();
        void lines.return(undefined);
      },
    });
    return new Response(body, { headers: { 'Content-Type': 'application/x-ndjson; charset=utf-8' } });
  });
}
