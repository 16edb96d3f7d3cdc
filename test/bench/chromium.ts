/**
 * Runs Debian's headless Chromium on a local file: --dump-dom for the parsed DOM, --screenshot
 * for the pixels. The flags keep it off the network (this machine refuses outside connections,
 * and Chromium would otherwise retry them at every start) and give each run its own profile.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function withProfile<T>(fn: (profile: string) => Promise<T>): Promise<T> {
  const profile = mkdtempSync(join(tmpdir(), 'kelp-chromium-'));
  try {
    return await fn(profile);
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

function requireChromium(): string {
  if (!CHROMIUM) throw new Error('Chromium is not installed: apt-get install -y chromium (.ci/run installs it)');
  return CHROMIUM;
}

/** The DOM Chromium built from `file`, serialized after load. */
export function dumpDom(file: string): Promise<string> {
  return withProfile(async (profile) => {
    const { stdout } = await run(requireChromium(), [...FLAGS, `--user-data-dir=${profile}`, '--dump-dom', pathToFileURL(file).href], {
      maxBuffer: 64 << 20,
      timeout: 60_000,
    });
    return stdout;
  });
}

/** A PNG screenshot of `file` at the given window size. */
export function screenshot(file: string, width: number, height: number): Promise<Buffer> {
  return withProfile(async (profile) => {
    const png = join(profile, 'shot.png');
    await run(requireChromium(), [...FLAGS, `--user-data-dir=${profile}`, `--window-size=${width},${height}`, '--hide-scrollbars', `--screenshot=${png}`, pathToFileURL(file).href], {
      timeout: 60_000,
    });
    return readFileSync(png);
  });
}
