import { describe, expect, it } from 'vitest';
import { formatError, exitCodeFor, UsageError, CommandFailed } from '../src/errors.js';
import { Progress, redactUrl, table } from '../src/output.js';
import { percentiles } from '../src/stats.js';
import { readLines } from '../src/stdin.js';
import { parseHeaders, toPayload } from '../src/commands/publish.js';

function recorder(isTTY: boolean): { stream: { isTTY: boolean; columns: number; write(chunk: string): boolean }; text(): string } {
  const chunks: string[] = [];
  return {
    stream: { isTTY, columns: 80, write: (chunk: string) => (chunks.push(chunk), true) },
    text: () => chunks.join(''),
  };
}

describe('output helpers', () => {
  it('aligns table columns, numbers to the right', () => {
    expect(table([['queue', 'acked'], ['a', 5], ['longer', 12345]])).toBe('queue    acked\na            5\nlonger  12,345\n');
  });

  it('prints a plain progress line per 10% when stderr is not a terminal', () => {
    const out = recorder(false);
    const progress = new Progress(out.stream, 'lines', 'kelp demo');
    for (let done = 0; done <= 100; done += 5) progress.update([{ label: 'published', done, total: 100 }]);
    const lines = out.text().split('\n').filter(Boolean);
    expect(lines).toHaveLength(11);
    expect(lines[0]).toBe('kelp demo: 0% (published 0/100)');
    expect(lines[10]).toBe('kelp demo: 100% (published 100/100)');
  });

  it('redraws a bar in place on a terminal at most every 100 ms', () => {
    const out = recorder(true);
    let now = 0;
    const progress = new Progress(out.stream, 'bar', 'kelp demo', () => now);
    progress.update([{ label: 'acked', done: 1, total: 4 }]);
    now = 50;
    progress.update([{ label: 'acked', done: 2, total: 4 }]);
    now = 150;
    progress.update([{ label: 'acked', done: 4, total: 4 }]);
    progress.finish();
    const draws = out.text().split('\r').filter(Boolean);
    // 0 ms and 150 ms draw; 50 ms is throttled; finish() redraws the final state.
    expect(draws).toHaveLength(3);
    expect(draws[0]).toContain('[########----------------------]  25% acked 1/4');
    expect(draws[2]).toContain('[##############################] 100% acked 4/4');
    expect(out.text().endsWith('\n')).toBe(true);
  });

  it('prints nothing in off mode', () => {
    const out = recorder(true);
    const progress = new Progress(out.stream, 'off', 'kelp demo');
    progress.update([{ label: 'acked', done: 1, total: 1 }], true);
    progress.finish();
    expect(out.text()).toBe('');
  });

  it('computes nearest-rank percentiles', () => {
    const samples = Float64Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentiles(samples)).toEqual({ p50: 50, p95: 95, p99: 99, max: 100 });
  });

  it('redacts the password of a URL', () => {
    expect(redactUrl('redis://user:secret@localhost:6379/0')).toBe('redis://user:**@localhost:6379/0');
    expect(redactUrl('memory://')).toBe('memory://');
  });

  it('splits stdin chunks into non-empty lines, CRLF included', async () => {
    async function* chunks(): AsyncGenerator<Uint8Array | string> {
      yield 'one\r\ntw';
      yield new TextEncoder().encode('o\n\nthr');
      yield 'ee';
    }
    const lines: string[] = [];
    for await (const line of readLines(chunks())) lines.push(line);
    expect(lines).toEqual(['one', 'two', 'three']);
  });

  it('parses headers keeping = inside values', () => {
    expect(parseHeaders(['a=1', 'expr=x=y', 'empty='])).toEqual({ a: '1', expr: 'x=y', empty: '' });
  });

  it('sends JSON-looking bodies as values and other text as a JSON string', () => {
    expect(toPayload('{"a":[1,2]}', 'json')).toEqual({ a: [1, 2] });
    expect(toPayload('hello', 'json')).toBe('hello');
    expect(toPayload('42', 'text')).toBe('42');
    expect(toPayload('hi', 'binary')).toEqual(new Uint8Array([104, 105]));
  });
});

describe('error lines', () => {
  it('keeps only the first line of a multi-line message', () => {
    expect(formatError(new CommandFailed('closed\n    at somewhere (file.js:1:2)'))).toBe('kelp: error: closed');
  });

  it('names the code of a raw Node error and appends its cause', () => {
    const error = Object.assign(new Error('connect failed', { cause: new Error('socket hang up') }), { code: 'ECONNREFUSED' });
    expect(formatError(error)).toBe('kelp: error: ECONNREFUSED: connect failed (socket hang up)');
  });

  it('maps usage errors to 2 and runtime failures to 1', () => {
    expect(exitCodeFor(new UsageError('x'))).toBe(2);
    expect(exitCodeFor(new CommandFailed('x'))).toBe(1);
    expect(exitCodeFor(new Error('x'))).toBe(1);
  });
});
