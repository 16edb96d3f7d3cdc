// Serve Celery tasks from Node: Python code calls `add.delay(2, 3)` and a kelp worker runs it
// (docs/celery.md#worker). With Redis:
//   node examples/celery-worker.mjs redis://localhost:6379/0 redis://localhost:6379/1 serve
// runs until Ctrl-C; in Python, `app.send_task('tasks.add', (2, 3)).get()` then returns 5.
// Without `serve` it sends itself three tasks, runs them and stops (what runs on memory://).
// Run: npm run build && node examples/celery-worker.mjs [BROKER_URL BACKEND_URL [serve]]
import { Celery } from 'kelp';

const [broker = 'memory://', backend, mode] = process.argv.slice(2);
const app = new Celery({ broker, ...(backend ? { backend } : {}) });

let done = 0;
const worker = app.worker({
  concurrency: 4,
  acksLate: true, // ack after the run: a crash mid-task leaves it to be delivered again
  events: mode === 'serve', // worker and task events for `celery events` and Flower
  tasks: {
    // Positional arguments first, then the context (id, retries, kwargs, signal, retry()).
    'tasks.add': (x, y) => x + y,
    'tasks.greet': (ctx) => `hello ${ctx.kwargs.name}`,
    'tasks.flaky': async (ctx) => {
      if (ctx.retries < 1) return ctx.retry({ countdown: 0.1 }); // sent again, retries + 1
      return `ok after ${ctx.retries} retry`;
    },
  },
  onError: (error) => console.error('worker:', error),
});
await worker.start();
console.log(`worker ${worker.hostname} runs ${worker.registered.join(', ')}`);

if (mode === 'serve') {
  process.once('SIGINT', () => worker.stop().then(() => app.close()));
} else {
  const watch = (promise, label) => promise.then(() => console.log(`sent ${label}`));
  await watch(app.sendTask('tasks.add', [2, 3]), 'tasks.add(2, 3)');
  await watch(app.sendTask('tasks.greet', [], { name: 'Ada' }), "tasks.greet(name='Ada')");
  await watch(app.sendTask('tasks.flaky'), 'tasks.flaky()');
  while (worker.processed < 4) await new Promise((resolve) => setTimeout(resolve, 20)); // flaky runs twice
  done = worker.processed;
  await worker.stop();
  await app.close();
  console.log(`worker ran ${done} task runs and stopped`);
}
