/**
 * `kelp bench polling --compare a.json b.json`: the differences between two saved runs (`--json`
 * output: two versions, two configurations, two machines) row by row, each with the noise of
 * both sides. A difference counts only when the two min-max ranges do not overlap; with a single
 * run on either side there is no range to judge by, and the row says so instead of guessing.
 */
import { readFileSync } from 'node:fs';
import { FIGURES, figureOf, type Figure, type PollingReport, type PollingResult } from './polling.js';
import type { Spread } from './stats.js';

export type Verdict = 'better' | 'worse' | 'within noise' | 'no spread' | 'missing';

export interface FigureComparison {
  figure: Figure;
  a?: Spread;
  b?: Spread;
  /** (b - a) / a of the medians, in percent. */
  changePct?: number;
  verdict: Verdict;
}

export interface RowComparison {
  key: string;
  label: string;
  figures: FigureComparison[];
}

export interface PollingComparison {
  a: { file: string; startedAt: string; repeat: number; environment?: Record<string, string> };
  b: { file: string; startedAt: string; repeat: number; environment?: Record<string, string> };
  rows: RowComparison[];
}

/** Figures where a larger number is the better one. */
const HIGHER_IS_BETTER: ReadonlySet<Figure> = new Set(['throughput', 'jain', 'jainMin']);

export function rowKey(r: PollingResult): string {
  return `${r.load} | ${r.consumer === 'kelp' ? '' : `${r.consumer} `}${r.cycle} ${r.mode}${r.tracking === 'off' ? ' (no tracking)' : ''}`;
}

function spreadOf(r: PollingResult, figure: Figure): Spread | undefined {
  // NaN went through JSON as null: no value.
  const s = r.spread?.[figure];
  if (s && Number.isFinite(s.median)) return s;
  if (s) return undefined;
  const v = figureOf(r, figure);
  return typeof v !== 'number' || !Number.isFinite(v) ? undefined : { median: v, min: v, max: v, n: 1 };
}

export function compareFigure(figure: Figure, a: Spread | undefined, b: Spread | undefined): FigureComparison {
  if (!a || !b) return { figure, ...(a ? { a } : {}), ...(b ? { b } : {}), verdict: 'missing' };
  const changePct = a.median === 0 ? (b.median === 0 ? 0 : Number.POSITIVE_INFINITY) : ((b.median - a.median) / Math.abs(a.median)) * 100;
  const overlap = a.min <= b.max && b.min <= a.max;
  let verdict: Verdict;
  if (overlap) verdict = 'within noise';
  else if (a.n < 2 || b.n < 2) verdict = 'no spread';
  else verdict = b.median > a.median === HIGHER_IS_BETTER.has(figure) ? 'better' : 'worse';
  return { figure, a, b, changePct, verdict };
}

export function comparePollingReports(a: PollingReport, b: PollingReport, files: [string, string] = ['a', 'b']): PollingComparison {
  const rowsA = new Map(a.results.map((r) => [rowKey(r), r] as const));
  const rowsB = new Map(b.results.map((r) => [rowKey(r), r] as const));
  const keys = [...new Set([...rowsA.keys(), ...rowsB.keys()])];
  const rows = keys.map((key) => {
    const ra = rowsA.get(key);
    const rb = rowsB.get(key);
    const figures = FIGURES.map((figure) => compareFigure(figure, ra && !ra.error ? spreadOf(ra, figure) : undefined, rb && !rb.error ? spreadOf(rb, figure) : undefined));
    return { key, label: key, figures };
  });
  const side = (report: PollingReport, file: string) => ({
    file,
    startedAt: report.startedAt,
    repeat: report.repeat ?? 1,
    ...(report.environment ? { environment: report.environment } : {}),
  });
  return { a: side(a, files[0]), b: side(b, files[1]), rows };
}

export function readPollingReport(path: string): PollingReport {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<PollingReport>;
  if (!Array.isArray(parsed.results)) throw new Error(`${path} is not the --json output of kelp bench polling (no results)`);
  return parsed as PollingReport;
}
