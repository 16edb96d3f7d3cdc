/**
 * The dashboard's HTTP routes (Hono). Reads are GET under /api; everything that changes the
 * broker is a POST under /api/actions behind {@link actionGuard}. Every error leaves as JSON with
 * the broker password scrubbed.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { KelpError } from 'kelp';
import { actionRoutes } from './actions.js';
import type { AppContext } from './context.js';
import { BadRequest, queryInt } from './http-input.js';
import { viewMessage } from './message-view.js';
import { LIST_LIMIT } from './limits.js';
import { readRoutes } from './reads.js';
import { actionGuard, apiToken, basicAuth, hostCheck, sameSiteReads, securityHeaders } from './safety.js';



export function createApp(ctx: AppContext): Hono {
  const app = new Hono();
  app.use('*', securityHeaders());
  app.use('*', hostCheck(ctx.allowedHosts));
  app.use('*', basicAuth(ctx.password));

  for (const [route, asset] of ctx.assets) {
    app.get(route, (c) => c.body(new Uint8Array(asset.body), 200, { 'Content-Type': asset.type }));
  }

  app.use('/api/*', sameSiteReads());
  app.use('/api/*', apiToken(ctx.token));
  app.get('/api/config', (c) =>
    c.json({ broker: ctx.scrubber.shownUrl, transport: ctx.transportName, readOnly: ctx.readOnly, searchLimit: ctx.searchLimit }),
  );
  app.get('/api/overview', async (c) => c.json(await ctx.admin.inspect({ signal: c.req.raw.signal })));
  app.get('/api/history', (c) => c.json(ctx.sampler.history()));
  app.get('/api/queues/:queue/dead-letters', async (c) => {
    const queue = c.req.param('queue');
    const limit = queryInt(c, 'limit', 50, { min: 1, max: 1000 });
    const entries = await ctx.admin.deadLetters(queue, { limit, signal: c.req.raw.signal });
    return c.json({
      queue,
      entries: entries.map((entry) => ({
        id: entry.id ?? null,
        reason: entry.reason,
        at: entry.at ?? null,
        deliveryTag: entry.deliveryTag ?? null,
        view: viewMessage(entry.raw, entry.rawEncoding, LIST_LIMIT),
      })),
    });
  });
  readRoutes(app, ctx);

  app.use('/api/actions/*', actionGuard({ readOnly: ctx.readOnly, token: ctx.token }));
  // An action body is a few names and numbers; nothing larger is read into memory.
  app.use('/api/actions/*', bodyLimit({ maxSize: 16 * 1024, onError: (c) => c.json({ error: 'action bodies are at most 16 KiB' }, 413) }));
  actionRoutes(app, ctx);

  app.notFound((c) => c.json({ error: 'not found' }, 404));
  app.onError((error, c) => {
    const message = ctx.scrubber.scrub(error instanceof Error ? error.message : String(error));
    if (error instanceof BadRequest) return c.json({ error: message }, 400);
    const known = error instanceof KelpError;
    return c.json({ error: known ? message : `internal error: ${message}` }, 500);
  });
  return app;
}
