// What a result file records about where it was measured, so figures are never quoted bare.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { packageDir, root } from './load.mjs';

export function machineInfo(extra = {}) {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    // Uncommitted changes under packages/ mean the measured code is not exactly that commit.
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', 'packages'], { cwd: root, encoding: 'utf8' }).trim();
    if (dirty) commit += '+uncommitted';
  } catch {
    // not a checkout
  }
  return {
    host: os.hostname(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    commit,
    ...extra,
  };
}

export function commandLine() {
  return ['node', ...process.argv.slice(1).map((a) => a.replace(root + '/', ''))].join(' ');
}

/** Writes packages/bench/results/<stamp>-<name>.json and .md; returns their paths. */
export function writeResults(name, json, markdown) {
  const dir = join(packageDir, 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\..+$/, '');
  const base = join(dir, `${stamp}${name ? `-${name}` : ''}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdown);
  return [`${base}.json`, `${base}.md`];
}

/** A Markdown table from headers and rows of strings. */
export function markdownTable(headers, rows) {
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  return [`| ${headers.map(esc).join(' | ')} |`, `| ${headers.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}
