/**
 * The shared conformance suite (test/conformance) on redis://, against the real server, on a db
 * of its own. Whatever passes on memory:// must pass here too.
 */
import { defineConformanceSuite } from '../conformance/suite.js';
import { freshDb } from '../setup/fresh-db.js';

let url: Promise<string> | undefined;

defineConformanceSuite('redis', {
  url: () => (url ??= freshDb().then((db) => db.url)),
  supportsVisibilityTimeout: true,
  // A short poll timer keeps "nothing more arrives" checks quick even without tracking.
  transportOptions: { brpopTimeout: 0.2 },
  idleSeconds: 0.5,
});
