/**
 * What a polling report says about where it was measured: kelp's version and commit, Node, the
 * broker's name and version, Kombu's version when it took part, the machine's cores and CPU
 * model, and the command line. Every value is read, none assumed; what cannot be read says so.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, platform, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { RedisInfoProbe } from './redis-info.js';

const repoFile = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

function kelpVersion(): string {
  try {
    return (JSON.parse(readFileSync(repoFile('packages/kelp/package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function kelpCommit(): string {
  try {
    const cwd = repoFile('.');
    const commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${commit} (with uncommitted changes)` : commit;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** The environment block of a report. */
export async function environmentOf(options: { probe?: RedisInfoProbe; commandLine: string; kombu?: string }): Promise<Record<string, string>> {
  const cores = cpus();
  const env: Record<string, string> = {
    kelp: `${kelpVersion()}, commit ${kelpCommit()}`,
    node: process.version,
    broker: options.probe ? await options.probe.server() : 'memory:// (in process)',
    cores: String(cores.length),
    cpu: cores[0]?.model.trim() ?? 'unknown',
    os: `${platform()} ${release()}`,
    'load average at start': loadavg().map((l) => l.toFixed(2)).join(' '),
    command: options.commandLine,
  };
  if (options.kombu) env['kombu'] = `${options.kombu} (/usr/bin/python3)`;
  return env;
}
