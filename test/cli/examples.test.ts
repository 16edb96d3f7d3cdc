/**
 * The README's example and every program in examples/ run as documented (`node examples/x.mjs`
 * after `npm run build`, on memory://) and print what they claim.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { assertBuilt } from './kelp-process.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

function runNode(file: string, cwd = root): Promise<{ code: number | null; stdout: string; stderr: string }> {
  assertBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} did not finish in 20 s: ${stdout}${stderr}`));
    }, 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Every example program and the line this file expects from it. */
const EXAMPLES: ReadonlyArray<[string, RegExp]> = [
  ['basic-publish-consume.mjs', /got \{ to: 'grace@example.com', subject: 'hello' \}[\s\S]*consumed 3 messages from memory:\/\//],
  ['topic-routing.mjs', /errors: billing\.error, auth\.error\nbilling: billing\.error, billing\.invoice\.sent\nall: billing\.error, billing\.invoice\.sent, auth\.error, auth\.login/],
  ['priorities.mjs', /consumed in order: page-oncall \(priority 0\), email \(priority 3\), backup \(priority 6\), report \(priority 9\)/],
  ['async-iterator.mjs', /handled 7, 3 left in the queue/],
  ['simple-queue.mjs', /waiting: 2\ngot \{ hello: 'world' \} \(application\/json\)\ngot plain text is sent as text\/plain \(text\/plain\)\nempty now: true/],
  ['consumer-worker.mjs', /worker handled job 5\nworker stopped after 5 jobs/],
  ['dead-letters.mjs', /deadLettered event: orders-dl: ContentDisallowedError[^\n]*msgpack[\s\S]*handled \{ id: 2 \}\ndead letter: queue=orders-dl reason=ContentDisallowedError[^\n]*raw=utf8/],
  ['keep-alive.mjs', /automatic: delivered 1 time\(s\)\nby hand: delivered 1 time\(s\)/],
  ['retry-failover.mjs', /connect failed \(Cannot connect to redis at redis:\/\/127\.0\.0\.1:1\/0[^\n]*\nconnected to memory:\/\/failover[\s\S]*ensure declared retry-example after 2 attempts\npublish: routed \[ 'retry-example' \]/],
  ['pools.mjs', /published 5 through 2 pooled connections\nthird acquire: LimitExceeded\nmaybeDeclare first: true then: false\npurged 5 waiting messages/],
  ['celery-task.mjs', /sent tasks\.add\(2, 3\) id=[0-9a-f-]{36}\nworker ran tasks\.add\(2, 3\) = 5\nworker ran tasks\.add\(10, 20\) = 30\n$/],
  ['celery-worker.mjs', /worker kelp\d+@\S+ runs tasks\.add, tasks\.flaky, tasks\.greet\nsent tasks\.add\(2, 3\)\nsent tasks\.greet\(name='Ada'\)\nsent tasks\.flaky\(\)\nworker ran 4 task runs and stopped\n$/],
  ['celery-canvas.mjs', /^chain result: 16\n$/],
  ['length-limits.mjs', /latest-readings kept 3, 4, 5; dropped: \{"maxlen":2\}\norders-capped publishes: routed, routed, rejected/],
  ['message-ttl.mjs', /expired event: reminders \(dead-lettered\)\nexpired event: reminders \(dead-lettered\)\ndelivered \{ note: 'fresh' \}\ndead letters: expired, expired/],
  ['delayed-delivery.mjs', /waiting: 0, delayed: 3\ndelivered: invoice \(not early\), reminder \(not early\)\npurged 1 \(the report, still delayed\)/],
  ['queue-expiry.mjs', /after 1\.8 s: scratch deleted, busy exists \(read 1, 2, 3, 4, 5, 6\)/],
  ['hub-timers.mjs', /published 5 ticks, consumed 1, 2, 3, 4, 5; the loop stopped 1 time\(s\)/],
  ['sentinel-failover.mjs', /published 10 ticks, consumed 10 \(none lost\)/],
  ['redis-cluster.mjs', /published 10 ticks, consumed 10 \(none lost\)/],
];

describe('examples/', () => {
  it('lists every program of examples/ in the README table and runs each one here', () => {
    const programs = readdirSync(join(root, 'examples')).filter((name) => name.endsWith('.mjs')).sort();
    expect(EXAMPLES.map(([file]) => file).sort()).toEqual(programs);
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const listed = [...readme.matchAll(/`node examples\/([\w-]+\.mjs)`/g)].map((m) => m[1]).sort();
    expect(listed).toEqual(programs);
  });

  it.each(EXAMPLES)('%s runs and prints what it promises', async (file, expected) => {
    const result = await runNode(join(root, 'examples', file));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(expected);
  });
});

describe('README.md', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kelp-readme-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has an API example that runs on memory:// as written', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const match = /## A first program\n[\s\S]*?```js\n([\s\S]*?)```/.exec(readme);
    expect(match).not.toBeNull();
    const code = (match?.[1] ?? '').replace(/redis:\/\/[^']*/, 'memory://');
    // Resolve 'kelp' the way an installed app does: through node_modules.
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'example.mjs'), code);
    const result = await runNode(join(dir, 'example.mjs'), dir);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("routed [ 'email' ]\n{ to: 'ada@example.com' }\n{ to: 'alan@example.com' } { attempt: 1 }\n");
  });

  it('names exactly the two commands for developing kelp, and they are package.json scripts', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const setup = /## Developing kelp\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const commands = setup.split('\n').filter(Boolean).map((line) => line.split('#')[0]?.trim());
    expect(commands).toEqual(['npm install && npm start', 'npm test']);
    const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts['start']).toContain('kelp.js demo');
    expect(scripts['test']).toContain('vitest run');
  });
});
