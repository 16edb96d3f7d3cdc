import { OperationalError } from '@kelp/core';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ReplicaWaits } from '../src/replica-waits.js';

/** The part of an ioredis client ReplicaWaits touches; WAIT answers `acknowledged`. */
function fakeClient(acknowledged: number) {
  const client = {
    status: 'ready',
    stream: {} as object,
    waits: [] as Array<[number, number]>,
    wait: (replicas: number, timeoutMs: number) => {
      client.waits.push([replicas, timeoutMs]);
      return Promise.resolve(acknowledged);
    },
  };
  return client;
}

function setup(acknowledged = 1) {
  const client = fakeClient(acknowledged);
  const blocked: number[] = [];
  const waits = new ReplicaWaits({
    client: () => client as unknown as Redis,
    maxTimeout: 29,
    wrapError: (error) => error as Error,
    blockedUntil: (untilMs) => blocked.push(untilMs),
  });
  return { client, waits, blocked };
}

describe('ReplicaWaits', () => {
  it('sends one WAIT for a tick, with the largest replica count and timeout, and answers each caller', async () => {
    const { client, waits, blocked } = setup(1);
    const answers = await Promise.all([waits.waitForReplicas(1, 0.25), waits.waitForReplicas(2, 1), waits.waitForReplicas(1, 0.5)]);
    expect([client.waits, answers, blocked.length]).toEqual([[[2, 1000]], [1, 1, 1], 1]);
  });

  it('sends a new WAIT for requests of a later tick', async () => {
    const { client, waits } = setup(1);
    await waits.waitForReplicas(1, 1);
    await waits.waitForReplicas(1, 2);
    expect(client.waits).toEqual([
      [1, 1000],
      [1, 2000],
    ]);
  });

  it('keeps one WAIT at a time: requests made while one waits share the next', async () => {
    const { client, waits } = setup(1);
    let release!: (acknowledged: number) => void;
    client.wait = (replicas: number, timeoutMs: number) => {
      client.waits.push([replicas, timeoutMs]);
      return new Promise<number>((resolve) => (release = resolve));
    };
    const first = waits.waitForReplicas(1, 1);
    await new Promise((resolve) => setImmediate(resolve));
    const later = [waits.waitForReplicas(1, 2), waits.waitForReplicas(2, 1)];
    await new Promise((resolve) => setImmediate(resolve));
    expect(client.waits).toEqual([[1, 1000]]);
    release(1);
    expect(await first).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(client.waits).toEqual([
      [1, 1000],
      [2, 2000],
    ]);
    release(2);
    expect(await Promise.all(later)).toEqual([2, 2]);
  });

  it('rejects, never throws, when the transport closed before the WAIT went out', async () => {
    const client = fakeClient(1);
    let closed = false;
    const waits = new ReplicaWaits({
      client: () => {
        if (closed) throw new OperationalError('not connected');
        return client as unknown as Redis;
      },
      maxTimeout: 29,
      wrapError: (error) => error as Error,
      blockedUntil: () => undefined,
    });
    const answer = waits.waitForReplicas(1, 1);
    closed = true;
    await expect(answer).rejects.toThrow('not connected');
  });

  it('never sends a WAIT on a connection that is not ready: it would be queued for the next one', async () => {
    const { client, waits } = setup(1);
    const answer = waits.waitForReplicas(1, 1);
    client.status = 'reconnecting';
    await expect(answer).rejects.toBeInstanceOf(OperationalError);
    expect(client.waits).toEqual([]);
  });

  it('never sends a WAIT on another socket than the one that answered the write', async () => {
    const { client, waits } = setup(1);
    const answer = waits.waitForReplicas(1, 1);
    client.stream = {};
    await expect(answer).rejects.toBeInstanceOf(OperationalError);
    expect(client.waits).toEqual([]);
  });
});
