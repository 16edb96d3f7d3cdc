// The issue's targets (issue 5), checked against a run's results. Each check names the
// workload row it reads, so a reader can find the number in the table.

const row = (results, id) => results.find((r) => r.id === id && !r.error);

export const TARGETS = [
  { what: 'consume+ack, prefetch 100', target: '>= 50,000 msgs/s', kombu: '2,200', check: (rs) => row(rs, 'consume-ack-p100')?.rate, ok: (v) => v >= 50_000, unit: 'msgs/s' },
  { what: 'publish, awaited one at a time', target: '>= 15,000 msgs/s', kombu: '3,400', check: (rs) => row(rs, 'publish-serial')?.rate, ok: (v) => v >= 15_000, unit: 'msgs/s' },
  { what: 'publish, concurrent', target: '>= 100,000 msgs/s', kombu: '-', check: (rs) => row(rs, 'publish-concurrent')?.rate, ok: (v) => v >= 100_000, unit: 'msgs/s' },
  { what: 'end-to-end, 2 processes', target: '>= 40,000 msgs/s', kombu: '2,100', check: (rs) => row(rs, 'e2e-saturated')?.rate, ok: (v) => v >= 40_000, unit: 'msgs/s' },
  { what: 'paced latency p50 (1,000 msgs/s)', target: '<= 0.3 ms', kombu: '0.41 ms', check: (rs) => row(rs, 'e2e-paced-1000')?.latencyMs?.p50, ok: (v) => v <= 0.3, unit: 'ms' },
  { what: 'paced latency p99 (1,000 msgs/s)', target: '<= 1 ms', kombu: '0.73 ms', check: (rs) => row(rs, 'e2e-paced-1000')?.latencyMs?.p99, ok: (v) => v <= 1, unit: 'ms' },
  { what: '100 queues vs 1 queue', target: '>= 0.85', kombu: '0.65', check: (rs) => row(rs, 'queues-100')?.extra?.vsOneQueue, ok: (v) => v >= 0.85, unit: 'x' },
  { what: 'client CPU per consumed+acked message (prefetch 100)', target: '<= 25 us', kombu: '319 us', check: (rs) => row(rs, 'consume-ack-p100')?.cpuUsPerMsg, ok: (v) => v <= 25, unit: 'us' },
  { what: 'Redis round trips per consumed+acked message, prefetch 100', target: '<= 0.1', kombu: '3', check: (rs) => row(rs, 'consume-ack-p100')?.roundTripsPerMsg, ok: (v) => v <= 0.1, unit: '' },
  {
    what: 'consumer peak RSS (largest backlog)',
    target: '<= 90 MiB',
    kombu: '31 MiB',
    check: (rs) => rs.filter((r) => r.id.startsWith('rss-backlog-') && !r.error).sort((a, b) => b.messages - a.messages)[0]?.peakRssMiB,
    ok: (v) => v <= 90,
    unit: 'MiB',
  },
  {
    what: 'consumer peak RSS growth, smallest to largest backlog',
    target: 'flat (<= 1.25x)',
    kombu: '-',
    check: (rs) => {
      const rss = rs.filter((r) => r.id.startsWith('rss-backlog-') && !r.error).sort((a, b) => a.messages - b.messages);
      return rss.length >= 2 ? rss[rss.length - 1].peakRssMiB / rss[0].peakRssMiB : undefined;
    },
    ok: (v) => v <= 1.25,
    unit: 'x',
  },
];

/** Rows of [what, target, measured, verdict, Kombu]. */
export function checkTargets(results, format) {
  return TARGETS.map((t) => {
    const value = t.check(results);
    const measured = value === undefined || Number.isNaN(value) ? 'not measured' : `${format(value)}${t.unit && t.unit !== 'x' ? ` ${t.unit}` : t.unit === 'x' ? 'x' : ''}`;
    const verdict = value === undefined || Number.isNaN(value) ? '-' : t.ok(value) ? 'met' : 'MISSED';
    return [t.what, t.target, measured, verdict, t.kombu];
  });
}
