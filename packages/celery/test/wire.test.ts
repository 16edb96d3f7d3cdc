import { ConfigurationError } from '@kelp/core';
import { describe, expect, it } from 'vitest';
import { Celery } from '../src/app.js';
import { pyJsonDumps } from '../src/py-json.js';
import { argsRepr, kwargsRepr } from '../src/py-repr.js';
import { parsePyTime, pyIsoformat } from '../src/py-time.js';
import { lookupRoute } from '../src/routes.js';
import { buildTaskMessage, EMPTY_EMBED } from '../src/task-message.js';
import { sendTaskOptionsSchema } from '../src/options.js';

describe('Python text forms', () => {
  it('dumps JSON with json.dumps separators and ensure_ascii', () => {
    expect(pyJsonDumps([[2, 3], { z: 'é', n: null }, { a: [true, 1.5] }])).toBe('[[2, 3], {"z": "\\u00e9", "n": null}, {"a": [true, 1.5]}]');
  });

  it('writes argsrepr and kwargsrepr as celery.utils.saferepr does', () => {
    expect(argsRepr([2, 3])).toBe('(2, 3)');
    expect(argsRepr(['x'])).toBe("('x',)");
    expect(argsRepr([])).toBe('()');
    expect(kwargsRepr({ a: null, b: true, c: "it's", d: [1, { e: 'f' }] })).toBe("{'a': None, 'b': True, 'c': 'it\\'s', 'd': [1, {'e': 'f'}]}");
    expect(argsRepr(['x'.repeat(2000)])).toBe(`('${'x'.repeat(1023)}...', ...`); // cut as Celery cuts it, the ')' lost with the rest
  });

  it('formats and parses times as Python isoformat()', () => {
    const date = new Date(Date.UTC(2026, 11, 7, 18, 48, 23, 82));
    expect(pyIsoformat(date)).toBe('2026-12-07T18:48:23.082000+00:00');
    expect(pyIsoformat(date, false)).toBe('2026-12-07T18:48:23.082000');
    expect(parsePyTime('2026-12-07T18:48:23.082865+00:00')).toBe(date.getTime());
    expect(parsePyTime('2026-12-07T18:48:23.082865')).toBe(date.getTime());
    expect(parsePyTime('2026-12-07T20:48:23.082+02:00')).toBe(date.getTime());
    expect(parsePyTime('tomorrow')).toBeNaN();
  });
});

describe('routes', () => {
  it('match exact names first, then globs in order, then router functions', () => {
    const routes = [{ 'feed.*': 'feeds', 'feed.urgent': { queue: 'urgent', priority: 0 } }, (name: string) => (name.startsWith('img.') ? { queue: 'images' } : undefined)];
    expect(lookupRoute(routes, 'feed.urgent', [], {})).toEqual({ queue: 'urgent', priority: 0 });
    expect(lookupRoute(routes, 'feed.poll', [], {})).toEqual({ queue: 'feeds' });
    expect(lookupRoute(routes, 'img.resize', [], {})).toEqual({ queue: 'images' });
    expect(lookupRoute(routes, 'other', [], {})).toBeUndefined();
  });
});

describe('the task message', () => {
  const build = (options: Record<string, unknown>) =>
    buildTaskMessage({
      id: 'id-1', name: 'tasks.add', args: [2, 3], kwargs: {}, options: sendTaskOptionsSchema.parse(options), embed: EMPTY_EMBED,
      origin: 'node1@host', replyTo: 'oid', serializer: 'json', now: new Date(Date.UTC(2026, 0, 1)),
    });

  it('has the headers of as_task_v2 in their order, countdown turned into an eta', () => {
    const message = build({ countdown: 10, expires: 60, timeLimit: 5 });
    expect(Object.keys(message.headers)).toEqual(['lang', 'task', 'id', 'shadow', 'eta', 'expires', 'group', 'group_index', 'retries', 'timelimit', 'root_id', 'parent_id', 'argsrepr', 'kwargsrepr', 'origin', 'ignore_result']);
    expect([message.headers['eta'], message.headers['expires'], message.headers['timelimit'], message.headers['root_id']]).toEqual(['2026-01-01T00:00:10+00:00', '2026-01-01T00:01:00+00:00', [5, null], 'id-1']);
    expect(message.body).toBe('[[2, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]');
    expect([message.correlationId, message.replyTo, message.expiration]).toEqual(['id-1', 'oid', 60]);
  });

  it('refuses an eta that is not a time', () => {
    expect(() => build({ eta: 'soon' })).toThrow(ConfigurationError);
  });
});

describe('option validation', () => {
  it('refuses a misspelt option with a did-you-mean', async () => {
    expect(() => new Celery({ broker: 'memory://', backnd: 'redis://x' } as never)).toThrow(/did you mean `backend`/);
    const app = new Celery({ broker: 'memory://' });
    await expect(app.sendTask('t', [], {}, { countDown: 1 } as never)).rejects.toThrow(/did you mean `countdown`/);
    await expect(app.sendTask('t', [], {}, { priority: 12 })).rejects.toThrow(ConfigurationError);
    expect(() => app.worker({ tasks: {}, concurency: 2 } as never)).toThrow(/did you mean `concurrency`/);
    expect(() => app.resultBackend()).toThrow(/backend/);
    expect(() => new Celery({ broker: 'memory://', backend: 'db+sqlite:///results.db' })).toThrow(/option `backend` is invalid: must be a redis:\/\/, rediss:\/\/, valkey:\/\//);
    await app.close();
  });
});
