/**
 * kelp's `argsrepr` / `kwargsrepr` against Celery 5.2's own `saferepr(value, 1024)` on many values,
 * long ones included, so the cut and the `, ...` land where Celery puts them.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { argsRepr, kwargsRepr } from '../../packages/celery/src/py-repr.js';
import { PYTHON, requireCelery } from './celery-support.js';

const long = 'word '.repeat(300);
const cases: Array<['args', unknown[]] | ['kwargs', Record<string, unknown>]> = [
  ['args', []],
  ['args', [1]],
  ['args', [2, 3]],
  ['args', ['x', null, true, false, 1.5, -7]],
  ['args', [[1, [2, [3, [4, [5]]]]]]],
  ['args', [{ a: { b: { c: { d: 1 } } } }]],
  ['args', ["it's", 'say "hi"', 'line\nbreak', 'tab\there', 'é ü 日本', 'back\\slash']],
  ['args', ['x'.repeat(2000)]],
  ['args', [long]],
  ['args', Array.from({ length: 600 }, (_, i) => i)],
  ['args', [Array.from({ length: 400 }, (_, i) => `item-${i}`), 'after']],
  ['args', [{ nested: Array.from({ length: 300 }, (_, i) => ({ k: i })) }]],
  ['kwargs', {}],
  ['kwargs', { z: 'a', n: null, list: [1, 2], obj: { q: "it's" } }],
  ['kwargs', { big: 'y'.repeat(1500), after: 1 }],
  ['kwargs', Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`key${i}`, i]))],
  ['kwargs', { [long]: 1 }],
];

describe("argsrepr and kwargsrepr", () => {
  it("equal Celery 5.2's saferepr(value, 1024) for every case", () => {
    requireCelery();
    const script = [
      'import json, sys',
      'from celery.utils.saferepr import saferepr',
      'cases = json.load(sys.stdin)',
      "print(json.dumps([saferepr(tuple(v) if k == 'args' else v, 1024) for k, v in cases]))",
    ].join('\n');
    const python = JSON.parse(execFileSync(PYTHON, ['-c', script], { input: JSON.stringify(cases), encoding: 'utf8' })) as string[];
    const kelp = cases.map(([kind, value]) => (kind === 'args' ? argsRepr(value as unknown[]) : kwargsRepr(value as Record<string, unknown>)));
    for (let i = 0; i < cases.length; i += 1) expect([i, kelp[i]]).toEqual([i, python[i]]);
  });
});
