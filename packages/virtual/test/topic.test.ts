import { describe, expect, it } from 'vitest';
import { compileTopicPattern, prepareBinding, routeTable, TopicPatternCache, topicMatches } from '../src/index.js';

describe('compileTopicPattern (docs/wire-format.md#topic; stored patterns must match Kombu exactly)', () => {
  it.each([
    ['stock.*.nyse', '^stock\\..*?[^\\.]\\.nyse$'],
    ['stock.#', '^stock\\..*?$'],
    ['#', '^.*?$'],
    ['*.b', '^.*?[^\\.]\\.b$'],
    ['*', '^.*?[^\\.]$'],
    ['a.*.#', '^a\\..*?[^\\.]\\..*?$'],
  ])('compiles %s to %s', (key, pattern) => {
    expect(compileTopicPattern(key)).toBe(pattern);
  });

  it('escapes punctuation with a backslash and keeps Unicode letters and digits', () => {
    expect(compileTopicPattern('a-b_c d/é日²')).toBe('^a\\-b\\_c\\ d\\/é日²$');
  });

  it('writes NUL as the four characters \\000', () => {
    expect(compileTopicPattern('a\0b')).toBe('^a\\000b$');
  });

  it('leaves words that merely contain * or # untouched', () => {
    expect(compileTopicPattern('a*b.#x')).toBe('^a*b\\.#x$');
  });
});

describe('topicMatches (Python re.match semantics)', () => {
  it.each([
    ['*.b', 'a.b', true],
    ['*.b', 'ab.b', true],
    ['*.b', 'x.y.b', true],
    ['*.b', '.b', false],
    ['*', 'a.b', true],
    ['*', '', false],
    ['stock.*.nyse', 'stock.x.y.nyse', true],
    ['stock.#', 'stock', false],
    ['stock.#', 'stock.', true],
    ['stock.#', 'stockx', false],
    ['a.#.b', 'a.b', false],
    ['a.#.b', 'a.x.y.b', true],
    ['#', '', true],
  ])('binding %s against routing key %j matches: %s', (key, routingKey, expected) => {
    expect(topicMatches(compileTopicPattern(key), routingKey)).toBe(expected);
  });

  it('lets $ match before one trailing newline, as Python does', () => {
    expect(topicMatches('^a\\.b$', 'a.b\n')).toBe(true);
    expect(topicMatches('^a\\.b$', 'a.b\n\n')).toBe(false);
  });

  it('lets . match a carriage return, as Python does', () => {
    expect(topicMatches(compileTopicPattern('a.#'), 'a.\r')).toBe(true);
  });

  it('accepts identity escapes such as \\_ that the u flag would reject', () => {
    expect(topicMatches(compileTopicPattern('a_b.#'), 'a_b.c')).toBe(true);
  });

  it('treats a pattern JS cannot compile as matching nothing', () => {
    expect(topicMatches('^(unclosed$', 'anything')).toBe(false);
  });

  it('keeps the pattern cache bounded, dropping the least recently used', () => {
    const cache = new TopicPatternCache(2);
    cache.get('^a$');
    cache.get('^b$');
    cache.get('^a$');
    cache.get('^c$');
    expect(cache.size).toBe(2);
    const first = cache.get('^a$');
    expect(cache.get('^a$')).toBe(first);
  });
});

describe('Kombu test_Topic cases (docs/wire-format.md#topic)', () => {
  const table = [
    prepareBinding('topic', 'stock.#', 'rFunc'),
    prepareBinding('topic', 'stock.us.*', 'rFoo'),
    prepareBinding('topic', 'stock.europe.*', 'rBar'),
  ];

  it('prepare_bind stores stock.# as ^stock\\..*?$', () => {
    expect(prepareBinding('topic', 'stock.#', 'q')).toEqual({ routingKey: 'stock.#', pattern: '^stock\\..*?$', queue: 'q' });
  });

  it('routes stock.us.nasdaq to the stock.# and stock.us.* queues', () => {
    expect(routeTable('topic', table, 'stock.us.nasdaq')).toEqual(['rFunc', 'rFoo']);
  });

  it('routes stock.europe.OSE to stock.# and stock.europe.*', () => {
    expect(routeTable('topic', table, 'stock.europe.OSE')).toEqual(['rFunc', 'rBar']);
  });

  it('treats dots as literal: stockxeuropexOSE matches nothing', () => {
    expect(routeTable('topic', table, 'stockxeuropexOSE')).toEqual([]);
  });

  it('delivers once to a queue bound by overlapping keys (TopicMultibind)', () => {
    const multi = [prepareBinding('topic', 'stock.#', 'q'), prepareBinding('topic', 'stock.us.*', 'q')];
    expect(routeTable('topic', multi, 'stock.us.x')).toEqual(['q']);
  });
});
