// Celery canvas from Node (docs/celery.md#canvas): a chain whose steps may run on kelp or Python
// workers, and with a result backend a group and a chord joined in Redis as Celery does.
//   node examples/celery-canvas.mjs redis://localhost:6379/0 redis://localhost:6379/1
// On memory:// (the default) only the chain runs: it needs no result backend.
// Run: npm run build && node examples/celery-canvas.mjs [BROKER_URL BACKEND_URL]
import { Celery, chain, chord, group } from 'kelp';

const [broker = 'memory://', backend] = process.argv.slice(2);
const app = new Celery({ broker, ...(backend ? { backend } : {}) });

let last;
const worker = app.worker({
  tasks: {
    'tasks.add': (x, y) => x + y,
    'tasks.sum': (values) => values.reduce((a, b) => a + b, 0),
    'tasks.show': (value) => {
      last = value;
      console.log(`chain result: ${value}`);
      return value;
    },
  },
});
await worker.start();
const add = app.task('tasks.add');

// add(1, 2) -> add(3, 3) -> add(6, 10) -> show(16): each step gets the previous result first.
await chain(add.s(1, 2), add.s(3), add.s(10), app.task('tasks.show').s()).applyAsync();
while (last === undefined) await new Promise((resolve) => setTimeout(resolve, 20));

if (backend) {
  const parts = await group([add.s(1, 1), add.s(2, 2), add.s(3, 3)]).applyAsync();
  console.log('group results:', await parts.get({ timeout: 10 }));
  const total = await chord([add.s(1, 1), add.s(2, 2), add.s(3, 3)], app.task('tasks.sum').s()).applyAsync();
  console.log('chord result:', await total.get({ timeout: 10 }));
}
await worker.stop();
await app.close();
