import { memoryTransport, registerTransport } from 'kelp';
import type { DeadLetterEntry, InspectReport, RestoreOptions, RestoreReport, TransportAdmin } from 'kelp';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/index.js';
import { captureIo } from './helpers.js';

// A memory:// transport with a scripted admin object, under its own scheme, so the commands'
// option handling and output can be checked without Redis (test/cli covers the real one).
const calls: { method: string; args: unknown[] }[] = [];
const report: InspectReport = {
  exchanges: [{ name: 'tasks', type: 'direct', bindings: [{ queue: 'email', routingKey: 'email' }] }],
  queues: [
    { name: 'email', length: 12, priorityLengths: { '0': 10, '3': 2 }, unacked: 3, oldestUnackedAge: 42.5, deadLetters: 1, dropped: { expired: 4 } },
    { name: 'later', length: 0, priorityLengths: {}, unacked: 0, oldestUnackedAge: null, deadLetters: 0, delayed: 3, nextDueAt: Date.now() / 1000 + 3600 },
  ],
  unackedTotal: 3,
  visibilityTimeout: 3600,
};
const deadLetters: DeadLetterEntry[] = [
  { queue: 'email', reason: 'payload is not a JSON object', at: 1_700_000_000, raw: 'not json', rawEncoding: 'utf8' },
];
const admin: TransportAdmin = {
  inspect: async (...args) => (calls.push({ method: 'inspect', args }), report),
  restore: async (options?: RestoreOptions): Promise<RestoreReport> => {
    calls.push({ method: 'restore', args: [{ ...options, signal: undefined }] });
    return { dryRun: options?.dryRun ?? false, olderThan: options?.olderThan ?? 3600, restored: [{ queue: 'email', count: 3 }], total: 3 };
  },
  deadLetters: async (queue, options) => (calls.push({ method: 'deadLetters', args: [queue, options?.limit] }), deadLetters),
  requeueDeadLetters: async (queue, options) => (calls.push({ method: 'requeueDeadLetters', args: [queue, options?.limit] }), { requeued: 4, skipped: 1 }),
};

beforeAll(() => {
  registerTransport({
    aliases: ['adminmem'],
    // defineProperty: memory:// has an `admin` getter of its own, which this instance shadows.
    create: (params) => Object.defineProperty(memoryTransport.create(params), 'admin', { value: admin }),
  });
});

async function kelp(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  calls.length = 0;
  const io = captureIo();
  const code = await runCli(argv, io.io);
  return { code, stdout: io.stdout(), stderr: io.stderr() };
}

describe('kelp inspect, restore and dead-letters through a transport admin', () => {
  it('inspect --json prints the admin report as one JSON line', async () => {
    const result = await kelp(['inspect', 'adminmem://', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(report);
  });

  it('inspect prints bindings, lengths by priority, unacked, the oldest age and drops as tables', async () => {
    const result = await kelp(['inspect', 'adminmem://']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('tasks  direct  email -> email');
    expect(result.stdout).toMatch(/^email\s+12\s+0:10 3:2\s+3\s+42\.5 s\s+1\s+expired:4\s+-$/m);
    expect(result.stdout).toMatch(/^later\s+0\s+-\s+0\s+-\s+0\s+-\s+3 \(in 3,\d+(\.\d)? s\)$/m);
    expect(result.stdout).toContain('unacked: 3 (restored after a visibility timeout of 3,600 s)');
  });

  it('restore passes --older-than, --queue and --dry-run and reports what would move', async () => {
    const result = await kelp(['restore', 'adminmem://', '--older-than', '60', '--queue', 'email', '--dry-run']);
    expect(result.code).toBe(0);
    expect(calls).toEqual([{ method: 'restore', args: [{ dryRun: true, olderThan: 60, queue: 'email', signal: undefined }] }]);
    expect(result.stdout).toBe('would restore 3 messages unacked for more than 60 s (email: 3)\n');
  });

  it('restore without options leaves the threshold to the transport', async () => {
    const result = await kelp(['restore', 'adminmem://', '--json']);
    expect(calls).toEqual([{ method: 'restore', args: [{ dryRun: false, signal: undefined }] }]);
    expect(JSON.parse(result.stdout)).toEqual({ dryRun: false, olderThan: 3600, restored: [{ queue: 'email', count: 3 }], total: 3 });
  });

  it('dead-letters lists entries with their reason', async () => {
    const result = await kelp(['dead-letters', 'adminmem://', '--queue', 'email']);
    expect(result.code).toBe(0);
    expect(calls).toEqual([{ method: 'deadLetters', args: ['email', 100] }]);
    expect(result.stdout).toBe('1 dead letter(s) for email:\n2023-11-14T22:13:20.000Z  payload is not a JSON object  not json\n');
  });

  it('dead-letters --requeue requeues them all and says how many were skipped', async () => {
    const result = await kelp(['dead-letters', 'adminmem://', '--queue', 'email', '--requeue', '--json']);
    expect(result.code).toBe(0);
    expect(calls).toEqual([{ method: 'requeueDeadLetters', args: ['email', undefined] }]);
    expect(JSON.parse(result.stdout)).toEqual({ queue: 'email', requeued: 4, skipped: 1 });
  });

  it('rejects a negative --older-than with exit code 2', async () => {
    const result = await kelp(['restore', 'adminmem://', '--older-than=-5']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("kelp: error: --older-than must be a number of seconds >= 0, got '-5'\n");
  });
});
