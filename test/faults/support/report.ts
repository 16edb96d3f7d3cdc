/**
 * The one line each scenario prints (and appends to test/faults/.build/summary.txt), naming the
 * server it ran on (Redis or Valkey, see test/setup/test-server.ts).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { testServer } from '../../setup/test-server.js';
import { repoRoot } from './bundle.js';

export interface ScenarioCounts {
  published: number;
  acked: number;
  redelivered: number;
  deadLettered: number;
  lost: number;
  /** Extra facts worth a glance (publish failures, kills, reconnect time, ...). */
  extra?: Record<string, string | number>;
}

export function reportScenario(scenario: string, counts: ScenarioCounts): string {
  const extra = Object.entries(counts.extra ?? {})
    .map(([k, v]) => ` ${k}=${v}`)
    .join('');
  const text =
    `[faults] ${scenario} on ${testServer().label}: published=${counts.published} acked=${counts.acked} redelivered=${counts.redelivered} ` +
    `dead-lettered=${counts.deadLettered} lost=${counts.lost}${extra}`;
  console.log(text);
  try {
    const dir = join(repoRoot, 'test', 'faults', '.build');
    mkdirSync(dir, { recursive: true });
    appendFileSync(join(dir, 'summary.txt'), `${new Date().toISOString()} ${text}\n`);
  } catch {
    // the summary file is a convenience only
  }
  return text;
}
