/**
 * The repair actions. Each one goes through `transport.admin`, whose Redis implementation takes
 * Kombu's `unacked_mutex` where a restore does and changes each message in one atomic step, so it
 * is safe while Python and Node workers consume. Each answers with what it did, counts included,
 * and a `summary` sentence the page shows.
 */
import type { Hono } from 'hono';
import type { AppContext } from './context.js';
import { BadRequest, jsonBody, nameField, optionalNumber, optionalString } from './http-input.js';
import { repairOf } from './repair.js';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function optionalStep(body: Record<string, unknown>): number | undefined {
  const step = optionalNumber(body, 'step', 0);
  if (step !== undefined && !Number.isInteger(step)) throw new BadRequest('step must be an integer');
  return step;
}

/**
 * The age bound of a bulk restore. A message a worker is processing right now is unacked too, so
 * restoring it duplicates it: `olderThan` must be above 0, and restoring every unacked message
 * whatever its age takes `all: true` instead (with no `olderThan`). Without either, the
 * transport's visibility timeout applies.
 */
function restoreAge(body: Record<string, unknown>): number | undefined {
  const all = body['all'];
  if (all !== undefined && all !== true) throw new BadRequest('all must be true or left out');
  const olderThan = optionalNumber(body, 'olderThan', 0);
  if (all === true) {
    if (olderThan !== undefined) throw new BadRequest('restore takes olderThan or all: true, not both');
    return 0;
  }
  if (olderThan === 0) throw new BadRequest('olderThan must be above 0 (restoring messages being processed duplicates them); send all: true to restore every unacked message');
  return olderThan;
}

export function actionRoutes(app: Hono, ctx: AppContext): void {
  const repair = () => repairOf(ctx.admin, ctx.transportName);

  app.post('/api/actions/restore', async (c) => {
    const body = await jsonBody(c);
    const tag = optionalString(body, 'tag');
    if (tag !== undefined) {
      const result = await repair().restoreMessage(tag, { signal: c.req.raw.signal });
      const summary = result.restored
        ? `restored message ${tag} to ${result.queues.join(', ')}`
        : result.deadLettered
          ? `message ${tag} has no route any more: moved to the dead letters of ${result.queues.join(', ')}`
          : `message ${tag} is no longer unacked (acked or restored meanwhile): nothing to do`;
      return c.json({ action: 'restore', tag, ...result, summary });
    }
    const queue = optionalString(body, 'queue');
    const olderThan = restoreAge(body);
    const report = await ctx.admin.restore({
      signal: c.req.raw.signal,
      ...(queue === undefined ? {} : { queue }),
      ...(olderThan === undefined ? {} : { olderThan }),
    });
    const dead = (report.deadLettered ?? []).reduce((sum, d) => sum + d.count, 0);
    const summary =
      `restored ${plural(report.total, 'message')} unacked for more than ${report.olderThan} s` +
      (report.restored.length ? ` (${report.restored.map((r) => `${r.queue}: ${r.count}`).join(', ')})` : '') +
      (dead > 0 ? `; ${dead} without a route moved to dead letters` : '');
    return c.json({ action: 'restore', ...report, summary });
  });

  app.post('/api/actions/requeue-dead-letters', async (c) => {
    const body = await jsonBody(c);
    const queue = nameField(body, 'queue');
    const id = optionalString(body, 'id');
    if (id !== undefined) {
      const result = await repair().requeueDeadLetter(queue, id, { signal: c.req.raw.signal });
      const summary = result.requeued ? `requeued 1 dead letter to ${queue}` : `not requeued: ${result.reason ?? 'it is gone'}`;
      return c.json({ action: 'requeue-dead-letters', queue, id, ...result, summary });
    }
    const result = await ctx.admin.requeueDeadLetters(queue, { signal: c.req.raw.signal });
    const summary =
      `requeued ${plural(result.requeued, 'dead letter')} to ${queue}` +
      (result.skipped > 0 ? `; ${result.skipped} not valid messages stay dead letters` : '');
    return c.json({ action: 'requeue-dead-letters', queue, ...result, summary });
  });

  app.post('/api/actions/delete', async (c) => {
    const body = await jsonBody(c);
    const queue = nameField(body, 'queue');
    const deadLetterId = optionalString(body, 'deadLetterId');
    if (deadLetterId !== undefined) {
      const result = await repair().deleteDeadLetter(queue, deadLetterId, { signal: c.req.raw.signal });
      return c.json({ action: 'delete', queue, deadLetterId, ...result, summary: result.deleted ? `deleted 1 dead letter of ${queue}` : 'that dead letter is gone already' });
    }
    const id = optionalString(body, 'id');
    if (id === undefined) throw new BadRequest('delete takes id (a waiting message) or deadLetterId');
    const step = optionalStep(body);
    const result = await repair().deleteMessage(queue, id, { signal: c.req.raw.signal, ...(step === undefined ? {} : { step }) });
    return c.json({
      action: 'delete',
      queue,
      id,
      ...result,
      summary: result.deleted ? `deleted 1 waiting message of ${queue}` : 'that message is no longer waiting (consumed, moved or deleted): nothing deleted',
    });
  });

  app.post('/api/actions/purge', async (c) => {
    const body = await jsonBody(c);
    const queue = nameField(body, 'queue');
    // Typing the name is the confirmation: a click alone never empties a queue.
    if (body['confirm'] !== queue) throw new BadRequest(`purge needs confirm set to the queue name '${queue}'`);
    const result = await repair().purge(queue, { signal: c.req.raw.signal });
    return c.json({ action: 'purge', queue, ...result, summary: `purged ${plural(result.purged, 'waiting message')} from ${queue}` });
  });

  app.post('/api/actions/move', async (c) => {
    const body = await jsonBody(c);
    const from = nameField(body, 'from');
    const to = nameField(body, 'to');
    if (from === to) throw new BadRequest('from and to must be different queues');
    const limit = optionalNumber(body, 'limit', 1);
    if (limit !== undefined && !Number.isInteger(limit)) throw new BadRequest('limit must be an integer');
    const result = await repair().moveMessages(from, to, { signal: c.req.raw.signal, ...(limit === undefined ? {} : { limit }) });
    return c.json({ action: 'move', from, to, ...result, summary: `moved ${plural(result.moved, 'message')} from ${from} to ${to}` });
  });
}
