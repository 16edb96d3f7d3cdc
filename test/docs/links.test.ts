/**
 * Every link in the repository's Markdown, and every `docs/<page>.md#anchor` a comment cites,
 * points at a file that exists and at a heading that page has. A user's clone has nothing but the
 * repository, so a reference to anything outside it (the project's private documents) fails too.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Files git tracks (and new ones not yet committed), relative to the root. */
function repositoryFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  return out.split('\n').filter((file) => file !== '' && existsSync(join(root, file)));
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const withoutCode = markdown.replace(/^```[\s\S]*?^```/gm, '');
  for (const [, heading] of withoutCode.matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const base = (heading ?? '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  for (const [, id] of markdown.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(id ?? '');
  return anchors;
}

const anchorCache = new Map<string, Set<string>>();
function anchorsOfFile(file: string): Set<string> {
  let anchors = anchorCache.get(file);
  if (!anchors) {
    anchors = anchorsOf(readFileSync(file, 'utf8'));
    anchorCache.set(file, anchors);
  }
  return anchors;
}

/** Why `target` (a link written in `from`) does not resolve, or undefined when it does. */
function brokenReason(from: string, target: string): string | undefined {
  const [path = '', anchor] = target.split('#', 2);
  const file = path === '' ? join(root, from) : normalize(join(dirname(join(root, from)), decodeURI(path)));
  if (relative(root, file).startsWith('..')) return 'points outside the repository';
  if (!existsSync(file)) return 'no such file';
  if (anchor === undefined || anchor === '') return undefined;
  if (statSync(file).isDirectory() || !file.endsWith('.md')) return 'anchor on a file that is not Markdown';
  return anchorsOfFile(file).has(anchor) ? undefined : `no heading with anchor #${anchor}`;
}

const files = repositoryFiles();

describe('documentation links', () => {
  it('resolve in every Markdown file: files exist inside the repository, anchors name headings', () => {
    const broken: string[] = [];
    const markdown = files.filter((file) => file.endsWith('.md') && !file.includes('node_modules/'));
    expect(markdown).toContain('docs/wire-format.md');
    for (const file of markdown) {
      const text = readFileSync(join(root, file), 'utf8').replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (!target || /^[a-z]+:/i.test(target)) continue;
        const reason = brokenReason(file, target);
        if (reason) broken.push(`${file}: (${target}) ${reason}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('resolve where code, tests and scripts cite docs/<page>.md#<anchor>', () => {
    const broken: string[] = [];
    let citations = 0;
    for (const file of files.filter((name) => /\.(ts|mts|js|mjs|lua|py)$/.test(name) && name !== 'test/docs/links.test.ts')) {
      const text = readFileSync(join(root, file), 'utf8');
      for (const [, page, anchor] of text.matchAll(/\bdocs\/([\w-]+\.md)(?:#([\w-]+))?/g)) {
        citations += 1;
        const reason = brokenReason('README.md', `docs/${page}${anchor ? `#${anchor}` : ''}`);
        if (reason) broken.push(`${file}: docs/${page}${anchor ? `#${anchor}` : ''} ${reason}`);
      }
    }
    expect(citations).toBeGreaterThan(0);
    expect(broken).toEqual([]);
  });

  it('never point at documents outside the repository', () => {
    const outside = files
      .filter((file) => file !== 'CHANGELOG.md' && file !== 'test/docs/links.test.ts' && !file.includes('node_modules/'))
      .filter((file) => /\.(md|ts|mts|js|mjs|lua|py)$/.test(file))
      .flatMap((file) =>
        readFileSync(join(root, file), 'utf8')
          .split('\n')
          .map((line, index) => [line, index + 1] as const)
          .filter(([line]) => /\.\.\/shared\/|shared\/spec|\bspec [0-9]+\.[0-9]+|\bspec §/i.test(line))
          .map(([, line]) => `${file}:${line}`),
      );
    expect(outside).toEqual([]);
  });
});
