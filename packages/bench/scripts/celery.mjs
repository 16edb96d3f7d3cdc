#!/usr/bin/env node
// `npm run bench:celery [-- URL] [--tasks N] [--round-trips N] [--python PATH]`
//
// Celery on Redis from Node, in one run on one Redis: tasks per second (--tasks tasks.add calls
// made at once, until every result is in) and the round-trip latency of one call awaited at a time
// (--round-trips of them), for
//   kelp's client and worker (`app.worker`, concurrency 10, its own process),
//   celery-node 0.5.9's client and worker (its own process),
//   kelp's and celery-node's clients with a Python Celery 5.2 worker (prefork, -c 2).
// Each pair gets its own databases and queue and 20 warm-up calls. CPU per task (the client
// process, and the worker with its child processes, from /proc) is the figure a busy machine
// disturbs least. Writes
// packages/bench/results/<time>-celery.json and .md.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageDir } from './lib/load.mjs';
import { commandLine, machineInfo, markdownTable, writeResults } from './lib/machine.mjs';
import { useRedis } from './lib/redis.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    tasks: { type: 'string', default: '1000' },
    'round-trips': { type: 'string', default: '50' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
const TASKS = Number(values.tasks);
const ROUND_TRIPS = Number(values['round-trips']);
const log = (s) => process.stderr.write(s);

const { Celery } = await import('kelp');
const celeryNode = (await import('celery-node')).default;

const redis = await useRedis(positionals[0]);
const serverUrl = redis.url.replace(/\/\d+$/, '');
let nextDb = 100;
const children = [];

/** Starts a worker process and resolves once it says it is consuming. */
function startWorker(command, args, env, readyText) {
  const child = spawn(command, args, { cwd: packageDir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker not ready in 60 s:\n${out}`)), 60_000);
    const check = setInterval(() => {
      if (out.includes(readyText)) {
        clearInterval(check);
        clearTimeout(timer);
        resolve(child);
      } else if (child.exitCode !== null) {
        clearInterval(check);
        clearTimeout(timer);
        reject(new Error(`worker exited:\n${out}`));
      }
    }, 50);
  });
}

async function stopWorker(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** A client: send(i) resolves with something `get` awaits. */
function kelpClient(broker, backend, queue) {
  const app = new Celery({ broker, backend, defaultQueue: queue });
  return {
    send: (i) => app.sendTask('tasks.add', [i, i]),
    get: (result) => result.get({ timeout: 120 }),
    close: () => app.close(),
  };
}

function celeryNodeClient(broker, backend, queue) {
  const client = celeryNode.createClient(broker, backend, queue);
  const task = client.createTask('tasks.add');
  return {
    send: async (i) => task.applyAsync([i, i]),
    get: (result) => result.get(120_000),
    close: () => client.disconnect(),
  };
}

/** CPU seconds (user + system) of a process and its children, from /proc (Linux). */
function processTreeCpu(pid) {
  const tick = 100; // USER_HZ
  const stat = (p) => {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
      return { ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / tick };
    } catch {
      return undefined;
    }
  };
  let total = stat(pid)?.cpu ?? 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(entry);
    if (s && s.ppid === pid) total += s.cpu;
  }
  return total;
}

async function measure(client, workerPid) {
  for (let i = 0; i < 20; i += 1) await client.get(await client.send(i));
  const clientCpu = process.cpuUsage();
  const workerCpu = processTreeCpu(workerPid);
  const started = performance.now();
  // Every call is made at once, as an application handling many requests would: each side's
  // send (kelp batches the publishes of one tick; celery-node publishes in the background) and
  // then its result.
  const pending = [];
  for (let i = 0; i < TASKS; i += 1) pending.push(client.send(i).then((r) => client.get(r)));
  const values = await Promise.all(pending);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(clientCpu);
  const clientUsPerTask = (used.user + used.system) / TASKS;
  const workerUsPerTask = ((processTreeCpu(workerPid) - workerCpu) * 1e6) / TASKS;
  if (values.some((v, i) => v !== 2 * i)) throw new Error('a result did not match');
  const latencies = [];
  for (let i = 0; i < ROUND_TRIPS; i += 1) {
    const t = performance.now();
    await client.get(await client.send(i));
    latencies.push(performance.now() - t);
  }
  latencies.sort((a, b) => a - b);
  const pick = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { tasksPerSecond: TASKS / seconds, p50Ms: pick(0.5), p95Ms: pick(0.95), clientUsPerTask, workerUsPerTask };
}

const workerScript = join(packageDir, 'children', 'celery-worker.mjs');
const sides = [
  { id: 'kelp', label: 'kelp client -> kelp worker (concurrency 10)', client: kelpClient, worker: 'kelp' },
  { id: 'celery-node', label: 'celery-node client -> celery-node worker', client: celeryNodeClient, worker: 'celery-node' },
  { id: 'kelp-python', label: 'kelp client -> Celery 5.2 worker (prefork, -c 2)', client: kelpClient, worker: 'python' },
  { id: 'celery-node-python', label: 'celery-node client -> Celery 5.2 worker (prefork, -c 2)', client: celeryNodeClient, worker: 'python' },
];

const results = [];
try {
  for (const side of sides) {
    const [broker, backend, queue] = [`${serverUrl}/${nextDb++}`, `${serverUrl}/${nextDb++}`, `bench-${side.id}`];
    log(`${side.label}: `);
    const worker = side.worker === 'python'
      ? await startWorker(values.python, ['-m', 'celery', '-A', 'celery_bench', 'worker', '--pool=prefork', '-c', '2', '-Q', queue, '--without-mingle', '--without-gossip', '--without-heartbeat', '-l', 'INFO'], { KELP_BROKER: broker, KELP_BACKEND: backend, PYTHONPATH: join(packageDir, 'peers') }, ' ready.')
      : await startWorker(process.execPath, [workerScript, side.worker, broker, backend, queue], {}, 'ready');
    const client = side.client(broker, backend, queue);
    try {
      const figures = await measure(client, worker.pid);
      results.push({ side: side.id, label: side.label, ...figures });
      log(`${figures.tasksPerSecond.toFixed(0)} tasks/s, p50 ${figures.p50Ms.toFixed(1)} ms, p95 ${figures.p95Ms.toFixed(1)} ms, CPU per task: client ${figures.clientUsPerTask.toFixed(0)} us, worker ${figures.workerUsPerTask.toFixed(0)} us\n`);
    } finally {
      await client.close();
      await stopWorker(worker);
    }
  }
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await redis.stop();
}

const machine = machineInfo({ redisUrl: redis.url, redisStartedByRunner: redis.started });
const table = markdownTable(
  ['client -> worker', 'tasks/s', 'round trip p50 (ms)', 'round trip p95 (ms)', 'client CPU/task (us)', 'worker CPU/task (us)'],
  results.map((r) => [r.label, r.tasksPerSecond.toFixed(0), r.p50Ms.toFixed(1), r.p95Ms.toFixed(1), r.clientUsPerTask.toFixed(0), r.workerUsPerTask.toFixed(0)]),
);
const markdown = `# Celery from Node\n\n\`${commandLine()}\`: ${TASKS} tasks, ${ROUND_TRIPS} round trips\n\n${table}\n\nMachine: ${JSON.stringify(machine)}\n`;
const files = writeResults('celery', { command: commandLine(), tasks: TASKS, roundTrips: ROUND_TRIPS, machine, results }, markdown);
process.stdout.write(`${markdown}\nWritten: ${files.join(', ')}\n`);
