import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../src/keys.js';
import { parseRedisTransportOptions } from '../src/options.js';
import { PopCandidates } from '../src/pop-candidates.js';

/** Kombu's key layout: the transport's defaults (priority steps 0, 3, 6, 9). */
const keys = new RedisKeys({ ...parseRedisTransportOptions({}), db: 0 });
const SEP = keys.sep;
const lists = (pairs: readonly (readonly [string, string])[]) => pairs.map(([list]) => list.replace(SEP, ':'));

describe('PopCandidates.forWait', () => {
  it('names the waited list, then only the priority lists not known empty, in pop order', () => {
    const candidates = new PopCandidates(keys);
    const all = candidates.select(['q']);
    const fresh = lists(candidates.forWait('q'));
    // A pop found q, q:3 and q:9 empty (and armed them); q:6 still holds messages.
    const mark = candidates.mark;
    candidates.foundEmpty([all[0]!, all[1]!], 2, mark);
    candidates.foundEmpty([all[3]!], 1, mark);
    const armed = lists(candidates.forWait('q'));
    // A write to q:3 is announced: it is named again.
    candidates.invalidate([all[1]![0]]);
    const written = lists(candidates.forWait('q'));
    expect([fresh, armed, written]).toEqual([
      ['q', 'q:3', 'q:6', 'q:9'],
      ['q', 'q:6'],
      ['q', 'q:3', 'q:6'],
    ]);
  });

  it('names every list again after a reset (tracking lost or re-enabled)', () => {
    const candidates = new PopCandidates(keys);
    const all = candidates.select(['q']);
    candidates.foundEmpty(all, 4, candidates.mark);
    const armed = lists(candidates.forWait('q'));
    candidates.reset();
    expect([armed, lists(candidates.forWait('q'))]).toEqual([['q'], ['q', 'q:3', 'q:6', 'q:9']]);
  });
});
