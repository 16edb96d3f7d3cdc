// Call a Celery task from Node and await its result (docs/celery.md).
// With Redis and a Python Celery worker that has tasks.add:
//   node examples/celery-task.mjs redis://localhost:6379/0 redis://localhost:6379/1
// sends tasks.add(2, 3) to the `celery` queue as Celery 5.2 would and prints the 5 the worker stores.
// On memory:// (the default) there is no Python and no result backend: a kelp worker in this
// process stands in for Celery and prints what it ran.
// Run: npm run build && node examples/celery-task.mjs [BROKER_URL BACKEND_URL]
import { Celery, CeleryTaskError } from 'kelp';

const [broker = 'memory://', backend] = process.argv.slice(2);
const app = new Celery({ broker, ...(backend ? { backend } : {}) }); // in TypeScript: `await using app = ...`

let standIn;
if (!backend) {
  standIn = app.worker({ tasks: { 'tasks.add': (x, y, ctx) => { console.log(`worker ran ${ctx.name}(${x}, ${y}) = ${x + y}`); return x + y; } } });
  await standIn.start();
}

// A typed handle (in TypeScript: app.task<[number, number], number>('tasks.add')).
const add = app.task('tasks.add');
const result = await add.delay(2, 3);
console.log(`sent tasks.add(2, 3) id=${result.id}`);
// Options as Celery's apply_async: countdown, eta, expires, priority, queue, timeLimit, ...
const later = await add.applyAsync([10, 20], {}, { countdown: 0.2, priority: 0 });

if (backend) {
  console.log('result:', await result.get({ timeout: 10 }));
  console.log('later:', await later.get({ timeout: 10 }));
  try {
    await app.sendTask('tasks.missing', []).then((r) => r.get({ timeout: 10 }));
  } catch (error) {
    if (error instanceof CeleryTaskError) console.log(`failed as Python said: ${error.excType}`);
    else throw error;
  }
} else {
  await new Promise((resolve) => setTimeout(resolve, 500)); // the countdown task runs too
  await standIn.stop();
}
await app.close();
