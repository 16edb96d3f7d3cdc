/**
 * `@kelp/dashboard`: the web page behind `kelp dashboard URL`. It shows any broker kelp can open
 * (a Redis that only Python Kombu or Celery wrote to included) and repairs it through
 * `transport.admin`: restore unacked messages, requeue dead letters, delete, move and purge.
 *
 * ```ts
 * // startDashboard is a named export of @kelp/dashboard.
 * await using dashboard = await startDashboard({ url: 'redis://localhost:6379/0' });
 * console.log(dashboard.pageUrl); // http://127.0.0.1:PORT/#token=...
 * ```
 */
export { startDashboard, type Dashboard } from './server.js';
export type { DashboardOptions } from './options.js';
export type { BodyView, MessageView, TaskView } from './message-view.js';
