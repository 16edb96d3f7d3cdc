/**
 * Task routing as Celery's `task_routes`: a map from task name (or a glob such as `feed.*`) to a
 * route, a function, or a list of those tried in order; the first route found wins. A route is a
 * queue name or `{ queue, exchange, routingKey, priority }`. Options passed to `sendTask` win over
 * the route, as in Celery (`lpmerge(route, options)`).
 */

/** Where a task goes: a queue name, or the parts of a destination. */
export type TaskRoute = string | { queue?: string; exchange?: string; routingKey?: string; priority?: number };

/** One router: returns the route for a task, or undefined to let the next router decide. */
export type TaskRouter = (name: string, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>) => TaskRoute | undefined | null;

/** Celery's `task_routes`: a map of names and globs, a router function, or a list of both. */
export type TaskRoutes = Readonly<Record<string, TaskRoute>> | TaskRouter | ReadonlyArray<Readonly<Record<string, TaskRoute>> | TaskRouter>;

export interface ResolvedRoute {
  queue?: string;
  exchange?: string;
  routingKey?: string;
  priority?: number;
}

/** The route `routes` gives task `name`, or undefined. */
export function lookupRoute(
  routes: TaskRoutes | undefined,
  name: string,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
): ResolvedRoute | undefined {
  if (routes === undefined) return undefined;
  const routers = Array.isArray(routes) ? routes : [routes as Readonly<Record<string, TaskRoute>> | TaskRouter];
  for (const router of routers) {
    const route = typeof router === 'function' ? router(name, args, kwargs) : fromMap(router, name);
    if (route !== undefined && route !== null) return typeof route === 'string' ? { queue: route } : { ...route };
  }
  return undefined;
}

/** An exact name first, then the globs in the order given (Celery's MapRoute). */
function fromMap(map: Readonly<Record<string, TaskRoute>>, name: string): TaskRoute | undefined {
  if (Object.hasOwn(map, name)) return map[name];
  for (const [pattern, route] of Object.entries(map)) {
    if (pattern.includes('*') || pattern.includes('?') || pattern.includes('[')) {
      if (globToRegExp(pattern).test(name)) return route;
    }
  }
  return undefined;
}

/** Python's `fnmatch.translate`: `*` any run, `?` one character, `[...]` a class. */
function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else if (char === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) source += '\\[';
      else {
        const inner = pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
        source += `[${inner}]`;
        i = end;
      }
    } else source += char.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}
