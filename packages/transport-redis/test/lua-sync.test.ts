import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { luaScripts } from '../src/lua-scripts.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

describe('lua-scripts.ts', () => {
  it('is in sync with src/lua/*.lua (regenerate with node scripts/generate-redis-lua.mjs)', () => {
    const out = execFileSync(process.execPath, ['scripts/generate-redis-lua.mjs', '--check'], { cwd: root, encoding: 'utf8' });
    expect(out).toBe('');
  });

  it('embeds every Lua file, each with a KEYS/ARGV/returns header', () => {
    const files = readdirSync(new URL('../src/lua/', import.meta.url)).filter((f) => f.endsWith('.lua')).sort();
    expect(Object.values(luaScripts).map((s) => s.file).sort()).toEqual(files);
    for (const script of Object.values(luaScripts)) expect(script.lua).toMatch(/^--\[\[[\s\S]*KEYS[\s\S]*ARGV[\s\S]*Returns[\s\S]*\]\]/);
  });
});
