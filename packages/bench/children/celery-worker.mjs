// A Celery worker for `npm run bench:celery`, in a process of its own: kelp's (`app.worker`) or
// celery-node's, serving `tasks.add` on one queue until SIGTERM. Prints `ready` once consuming.
//
//   node celery-worker.mjs kelp|celery-node BROKER BACKEND QUEUE [CONCURRENCY]
const [side, broker, backend, queue, concurrency = '10'] = process.argv.slice(2);

if (side === 'kelp') {
  const { Celery } = await import('kelp');
  const app = new Celery({ broker, backend, defaultQueue: queue });
  const worker = app.worker({ concurrency: Number(concurrency), tasks: { 'tasks.add': (x, y) => x + y } });
  await worker.start();
  process.once('SIGTERM', () => worker.stop().then(() => app.close()).then(() => process.exit(0)));
} else {
  const { createWorker } = (await import('celery-node')).default;
  const worker = createWorker(broker, backend, queue);
  worker.register('tasks.add', (x, y) => x + y);
  worker.start();
  process.once('SIGTERM', () => worker.disconnect().finally(() => process.exit(0)));
}
process.stdout.write('ready\n');
