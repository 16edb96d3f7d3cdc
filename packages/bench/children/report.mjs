// What every cold child shares: its flags, the ~200-byte JSON body, and the one JSON line it
// prints at the end. A child counts only what happens between `start()` and `finish()`, and
// reports its own process's CPU time and peak RSS.
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

/** The child's flags; every child takes --url, --queue and --messages. */
export function flags(options) {
  const { values } = parseArgs({
    options: { url: { type: 'string' }, queue: { type: 'string' }, messages: { type: 'string' }, ...options },
    strict: true,
  });
  if (!values.url || !values.queue || !values.messages) throw new Error('a bench child needs --url, --queue and --messages');
  return { ...values, messages: Number(values.messages) };
}

/** The body every workload sends: `{"seq":N,"kind":"bench","text":"xxx..."}`, about 200 bytes. */
export function body(seq) {
  return { seq, kind: 'bench', text: 'x'.repeat(160) };
}

/** A measured window: wall time and this process's CPU between start() and finish(). */
export function start() {
  const cpu = process.cpuUsage();
  const began = performance.now();
  return {
    finish(messages, extra = {}) {
      const seconds = (performance.now() - began) / 1000;
      const used = process.cpuUsage(cpu);
      const line = {
        event: 'result',
        messages,
        seconds,
        rate: seconds > 0 ? messages / seconds : 0,
        cpuUsPerMsg: messages > 0 ? (used.user + used.system) / messages : 0,
        peakRssMiB: process.resourceUsage().maxRSS / 1024,
        ...extra,
      };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    },
  };
}
