/**
 * The page's files, served from the package itself: the HTML, script and style in `public/`,
 * and uPlot from its npm package. Nothing is fetched from the network and nothing is built for
 * the user: the page is plain HTML and JavaScript modules.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface Asset {
  type: string;
  body: Buffer;
}

const require = createRequire(import.meta.url);
const publicFile = (name: string) => fileURLToPath(new URL(`../public/${name}`, import.meta.url));

const SOURCES: Record<string, { path: () => string; type: string }> = {
  '/': { path: () => publicFile('index.html'), type: 'text/html; charset=utf-8' },
  '/assets/app.js': { path: () => publicFile('app.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/dom.js': { path: () => publicFile('dom.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/overview.js': { path: () => publicFile('overview.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/messages.js': { path: () => publicFile('messages.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/search.js': { path: () => publicFile('search.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/style.css': { path: () => publicFile('style.css'), type: 'text/css; charset=utf-8' },
  '/assets/uplot.js': { path: () => require.resolve('uplot/dist/uPlot.esm.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/uplot.css': { path: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

/** Reads every asset once (they are small); a missing one fails at start, not on first view. */
export function loadAssets(): Map<string, Asset> {
  return new Map(Object.entries(SOURCES).map(([route, source]) => [route, { type: source.type, body: readFileSync(source.path()) }]));
}
