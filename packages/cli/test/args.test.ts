import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli, VERSION } from '../src/index.js';
import { captureIo } from './helpers.js';

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captureIo();
  const code = await runCli(argv, io.io);
  return { code, stdout: io.stdout(), stderr: io.stderr() };
}

/** The contract for every bad input: exit 2 and exactly one `kelp: error:` line, no stack. */
function expectUsageError(result: { code: number; stdout: string; stderr: string }, text: string): void {
  expect(result.code).toBe(2);
  expect(result.stdout).toBe('');
  const lines = result.stderr.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^kelp: error: /);
  expect(lines[0]).toContain(text);
  expect(result.stderr).not.toMatch(/\bat .+:\d+:\d+/);
}

describe('kelp argument validation', () => {
  it('rejects an unknown flag with exit code 2 and one line naming the flag', async () => {
    expectUsageError(await run(['publish', 'memory://', '--exchange', 'x', '--routing-key', 'k', '--bogus', 'b']), 'unknown option --bogus');
  });

  it('rejects priority 42 naming the accepted range', async () => {
    expectUsageError(
      await run(['publish', 'memory://', '--exchange', 'x', '--routing-key', 'k', '--priority', '42', 'b']),
      '--priority must be an integer from 0 to 9, got 42',
    );
  });

  it('rejects a priority that is not a number', async () => {
    expectUsageError(
      await run(['publish', 'memory://', '--exchange', 'x', '--routing-key', 'k', '--priority', 'high', 'b']),
      "--priority must be an integer from 0 to 9, got 'high'",
    );
  });

  it('requires --queue for consume', async () => {
    expectUsageError(await run(['consume', 'memory://']), 'missing --queue');
  });

  it('requires --queue for purge', async () => {
    expectUsageError(await run(['purge', 'memory://']), 'missing --queue');
  });

  it('requires the URL', async () => {
    expectUsageError(await run(['consume', '--queue', 'q']), 'missing URL');
  });

  it('requires --exchange for publish', async () => {
    expectUsageError(await run(['publish', 'memory://', '--routing-key', 'k', 'body']), 'missing --exchange');
  });

  it('requires --routing-key for a direct exchange', async () => {
    expectUsageError(await run(['publish', 'memory://', '--exchange', 'x', 'body']), 'missing --routing-key');
  });

  it('requires a BODY for publish', async () => {
    expectUsageError(await run(['publish', 'memory://', '--exchange', 'x', '--routing-key', 'k']), 'missing BODY');
  });

  it('rejects an unknown exchange type listing the valid ones', async () => {
    expectUsageError(
      await run(['publish', 'memory://', '--exchange', 'x', '--type', 'headers', '--routing-key', 'k', 'b']),
      "--type must be one of direct, topic, fanout, got 'headers'",
    );
  });

  it('rejects a header without =', async () => {
    expectUsageError(
      await run(['publish', 'memory://', '--exchange', 'x', '--routing-key', 'k', '--header', 'novalue', 'b']),
      "--header must be key=value, got 'novalue'",
    );
  });

  it('rejects --count 0', async () => {
    expectUsageError(await run(['consume', 'memory://', '--queue', 'q', '--count', '0']), '--count must be an integer >= 1, got 0');
  });

  it('rejects a negative --timeout', async () => {
    expectUsageError(await run(['consume', 'memory://', '--queue', 'q', '--timeout=-1']), "--timeout must be a number of seconds >= 0, got '-1'");
  });

  it('explains how to pass a value that starts with a dash', async () => {
    expectUsageError(await run(['consume', 'memory://', '--queue', 'q', '--timeout', '-1']), 'option --timeout needs a value (write --timeout=-VALUE');
  });

  it('rejects a value given to a boolean flag', async () => {
    expectUsageError(await run(['consume', 'memory://', '--queue', 'q', '--json=yes']), 'option --json does not take a value');
  });

  it('rejects --reject together with --requeue', async () => {
    expectUsageError(await run(['consume', 'memory://', '--queue', 'q', '--reject', '--requeue']), '--reject and --requeue cannot be used together');
  });

  it('rejects --no-ack together with --reject', async () => {
    expectUsageError(await run(['consume', 'memory://', '--queue', 'q', '--no-ack', '--reject']), '--no-ack and --reject cannot be used together');
  });

  it('rejects --routing-key without --exchange on consume', async () => {
    expectUsageError(await run(['consume', 'memory://', '--queue', 'q', '--routing-key', 'k']), '--routing-key needs --exchange');
  });

  it('rejects a flag that is missing its value', async () => {
    expectUsageError(await run(['consume', 'memory://', '--queue']), 'option --queue needs a value');
  });

  it('rejects an extra positional argument with a hint about quoting', async () => {
    expectUsageError(
      await run(['publish', 'memory://', '--exchange', 'x', '--routing-key', 'k', 'hello', 'world']),
      "unexpected argument 'world'",
    );
  });

  it('rejects --messages 0 for demo', async () => {
    expectUsageError(await run(['demo', '--messages', '0']), '--messages must be an integer from 1 to 10000000, got 0');
  });

  it('rejects an unknown command listing the commands', async () => {
    expectUsageError(await run(['frobnicate']), "unknown command 'frobnicate' (commands: demo, publish, consume, purge");
  });

  it('rejects a missing command', async () => {
    expectUsageError(await run([]), 'missing command');
  });
});

describe('kelp help and version', () => {
  it('prints the version from package.json', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
    const result = await run(['--version']);
    expect(result).toEqual({ code: 0, stdout: `kelp ${pkg.version}\n`, stderr: '' });
  });

  it('lists every command in --help', async () => {
    const result = await run(['--help']);
    expect(result.code).toBe(0);
    for (const name of ['demo', 'publish', 'consume', 'purge', 'inspect', 'restore', 'dead-letters', 'bench']) {
      expect(result.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    }
  });

  it.each([
    ['publish', '--routing-key K'],
    ['consume', '--prefetch N'],
    ['demo', '--messages N'],
    ['restore', '--older-than SECONDS'],
    ['dead-letters', '--requeue'],
    ['purge', '--queue Q'],
    ['inspect', '--json'],
  ])('prints the options of %s with --help', async (command, option) => {
    const result = await run([command, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Usage: kelp ${command}`);
    expect(result.stdout).toContain(option);
  });

  it('rejects an unknown bench workload with exit code 2 and the accepted names', async () => {
    const result = await run(['bench', 'memory://', '--workloads', 'nope']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^kelp: error: --workloads accepts publish-serial, .* got "nope"\n$/);
  });
});
