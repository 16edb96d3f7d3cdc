/**
 * The queue-order strategies `kelp bench polling --cycles` compares: built-in names
 * (`round_robin`, `priority`, `sorted`), names a module registered, or paths to such modules. A
 * module registers its strategy with `registerQueueOrderStrategy(name, factory)` from `kelp`
 * when imported; the names it added are the ones benchmarked. The consumer modes take the name
 * as the transport option `queueOrderStrategy`; the interval mode asks the same cycle object.
 */
import { queueOrderStrategies, type QueueCycle } from '@kelp/virtual';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { closest } from './polling-loads.js';

export const BUILTIN_CYCLES = ['round_robin', 'priority', 'sorted'] as const;

class StrategyError extends Error {
  override name = 'UsageError';
}

/** Whether an item of `--cycles` names a module file rather than a strategy. */
export function isModulePath(item: string): boolean {
  return item.includes('/') || item.includes('\\') || /\.(m?js|cjs|ts)$/.test(item);
}

/**
 * Turns `--cycles` items into strategy names, importing module paths (relative to `cwd`) and
 * taking the names each one registered. Unknown names fail with the list of known ones.
 */
export async function resolveCycles(items: readonly string[], cwd = process.cwd()): Promise<string[]> {
  const names: string[] = [];
  for (const item of items) {
    if (!isModulePath(item)) {
      if (!queueOrderStrategies.has(item)) {
        const known = queueOrderStrategies.names();
        throw new StrategyError(`--cycles: unknown strategy ${JSON.stringify(item)}; did you mean ${closest(item, known)}? (use ${known.join(', ')} or a path to a module that calls registerQueueOrderStrategy)`);
      }
      names.push(item);
      continue;
    }
    const before = new Set(queueOrderStrategies.names());
    const file = isAbsolute(item) ? item : resolve(cwd, item);
    try {
      await import(pathToFileURL(file).href);
    } catch (error) {
      throw new StrategyError(`--cycles: could not import ${file}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const added = queueOrderStrategies.names().filter((name) => !before.has(name));
    if (added.length === 0) {
      throw new StrategyError(`--cycles: ${file} registered no new queue-order strategy (call registerQueueOrderStrategy(name, factory) from 'kelp' when the module loads)`);
    }
    names.push(...added);
  }
  return [...new Set(names)];
}

/** The cycle of strategy `name` over the queues `names`, as the virtual channel would build it. */
export function cycleFor(name: string, names: readonly string[]): QueueCycle {
  const cycle = queueOrderStrategies.create(name);
  cycle.update(names);
  return cycle;
}
