/**
 * What each package's public entry gives users: the API, and none of the helpers kelp's own
 * packages share (those live behind relative imports or `@kelp/virtual/internal`).
 */
import * as celery from '@kelp/celery';
import * as core from '@kelp/core';
import * as memory from '@kelp/transport-memory';
import * as redis from '@kelp/transport-redis';
import * as virtual from '@kelp/virtual';
import * as virtualInternal from '@kelp/virtual/internal';
import * as kelp from 'kelp';
import { describe, expect, it } from 'vitest';

const entries: Record<string, Record<string, unknown>> = { '@kelp/celery': celery, '@kelp/core': core, '@kelp/virtual': virtual, '@kelp/transport-memory': memory, '@kelp/transport-redis': redis, kelp };

describe('public entries', () => {
  it.each([
    ['@kelp/transport-memory', ['Deque', 'MemoryChannel', 'MemoryAdmin']],
    ['@kelp/transport-redis', ['RedisAdmin', 'restoreInBatches', 'envelopeSpan', 'deadLetterRecord', 'readDeadLetterRecord', 'parseUnackedEntry', 'FANOUT_MEMORY_LIMIT', 'luaScripts', 'wrapRedisError', 'safeRedisCause', 'toIoredisOptions', 'RedisChannel']],
    ['@kelp/virtual', ['RecycleCounter', 'TypedEmitter', 'QoS', 'GenericPoller', 'pythonJsonDumps', 'oversizeReason', 'nestsDeeperThan']],
    ['@kelp/celery', ['pyJsonDumps', 'argsRepr', 'buildTaskMessage', 'RedisResultBackend', 'chordPartReturn', 'CanvasRunner', 'RemoteControl', 'WorkerEvents']],
    ['@kelp/core', ['closestName', 'editDistance', 'declaredEntities', 'TokenBucket', 'FailoverCycle', 'toCamelCase', 'checkTransportOptionNames']],
  ])('%s keeps its internals to itself', (entry, internals) => {
    const exported = Object.keys(entries[entry] ?? {});
    expect(internals.filter((name) => exported.includes(name))).toEqual([]);
  });

  it('kelp re-exports nothing a lower package keeps internal', () => {
    const internals = ['Deque', 'RecycleCounter', 'TypedEmitter', 'QoS', 'envelopeSpan', 'closestName', 'TokenBucket', 'VirtualChannel', 'VirtualAdmin'];
    expect(internals.filter((name) => name in kelp)).toEqual([]);
  });

  it("kelp re-exports Celery's API under the names the issue gives", () => {
    const names = ['Celery', 'AsyncResult', 'CeleryWorker', 'CeleryTaskError', 'TaskRevokedError', 'ResultTimeoutError', 'Signature', 'chain', 'group', 'chord', 'Retry'];
    expect(names.filter((name) => !(name in kelp))).toEqual([]);
  });

  it('kelp gives users both registries they may extend', () => {
    expect([typeof kelp.registerTransport, typeof kelp.registerQueueOrderStrategy]).toEqual(['function', 'function']);
  });

  it('the shared helpers stay reachable for kelp packages through @kelp/virtual/internal', () => {
    expect(Object.keys(virtualInternal)).toEqual(['RecycleCounter', 'moveTakenAside', 'GenericPoller']);
  });
});
