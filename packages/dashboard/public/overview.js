// The overview: queues, bindings, and the rate charts with what each measures.
import uPlot from './uplot.js';
import { act, age, api, canAct, el, fmt, main, state, status } from './dom.js';
import { openMessages } from './messages.js';

const CHARTS = [
  {
    key: 'ready',
    title: 'Ready messages',
    about:
      'Messages waiting in each queue (all priority sub-lists), read with LLEN at every sample. ' +
      'Exact at the sample time.',
  },
  {
    key: 'readyRate',
    title: 'Net change of ready messages per second',
    about:
      'The change of the ready count between two samples divided by the time between them: publishes ' +
      'minus consumes. Redis keeps no counters of publishes or acks, so the two cannot be told apart ' +
      'from Redis alone (100 in and 100 out shows as 0); messages published and consumed between two ' +
      'samples are invisible.',
  },
  {
    key: 'unacked',
    title: 'Unacked messages',
    about:
      'Messages delivered to a consumer and not yet acknowledged (the unacked hash, counted per queue ' +
      'by their routing). Growth with a flat ready count means consumers are slow or have died holding ' +
      'messages; those come back after the visibility timeout or a restore.',
  },
  {
    key: 'deadRate',
    title: 'Dead letters per minute',
    about:
      "The growth of each queue's dead-letter list between two samples, per minute: messages kelp moved " +
      'aside (malformed, rejected, expired, past the redelivery limit). A requeue between two samples ' +
      'hides the letters that arrived meanwhile.',
  },
];

function series(samples, key) {
  const names = new Set();
  for (const sample of samples) for (const name of Object.keys(sample.queues)) names.add(name);
  const queues = [...names].sort().slice(0, 12);
  const times = samples.map((s) => s.at);
  const value = (sample, prev, name) => {
    const q = sample.queues[name];
    if (!q) return null;
    if (key === 'ready' || key === 'unacked') return q[key];
    const p = prev?.queues[name];
    if (!p) return null;
    const dt = sample.at - prev.at;
    if (key === 'readyRate') return (q.ready - p.ready) / dt;
    return Math.max(0, q.deadLetters - p.deadLetters) * (60 / dt);
  };
  const data = [times, ...queues.map((name) => samples.map((s, i) => value(s, samples[i - 1], name)))];
  return { queues, data };
}

const COLORS = ['#0b6e4f', '#3366cc', '#dc3912', '#ff9900', '#990099', '#0099c6', '#dd4477', '#66aa00', '#b82e2e', '#316395', '#994499', '#22aa99'];

function drawCharts(container, history) {
  for (const chart of state.charts) chart.destroy();
  state.charts = [];
  // Every box goes in first: a lone box in an auto-fit grid spans the whole row, and a chart
  // sized from it would overflow once its neighbours arrive.
  const boxes = CHARTS.map((spec) => {
    const box = el('div', { className: 'chart', 'data-chart': spec.key }, el('h3', {}, spec.title));
    const plot = el('div', { className: 'plot' });
    box.append(plot, el('p', {}, spec.about));
    return { spec, box, plot };
  });
  container.replaceChildren(...boxes.map((b) => b.box));
  for (const { spec, box, plot } of boxes) {
    const { queues, data } = series(history.samples, spec.key);
    if (history.samples.length < 2 || queues.length === 0) {
      plot.append(el('p', {}, 'Collecting samples…'));
      continue;
    }
    const opts = {
      width: Math.max(300, box.clientWidth - 20),
      height: 180,
      series: [{}, ...queues.map((name, i) => ({ label: name, stroke: COLORS[i % COLORS.length], width: 1.5 }))],
      axes: [{}, { size: 60 }],
    };
    state.charts.push(new uPlot(opts, data, plot));
  }
  container.append(
    el('p', { className: 'note' }, `Sampled every ${history.interval} s by this dashboard since it started (kept in memory only).`),
  );
  if (history.error) container.append(el('p', { className: 'note' }, `Last sample failed: ${history.error}`));
}

export async function showOverview() {
  const [report, history] = await Promise.all([api('/api/overview'), api('/api/history')]);
  const root = el('div', { id: 'overview' });
  root.append(el('h2', {}, 'Queues'));
  const rows = report.queues.map((q) =>
    el(
      'tr',
      { 'data-queue': q.name },
      el('td', {}, el('a', { href: '#messages', onclick: () => openMessages(q.name) }, q.name)),
      el('td', { className: 'num' }, fmt(q.length)),
      el('td', { className: 'mono' }, Object.entries(q.priorityLengths ?? {}).map(([p, n]) => `${p}:${n}`).join(' ') || '-'),
      el('td', { className: 'num' }, fmt(q.unacked)),
      el('td', { className: 'num' }, age(q.oldestUnackedAge)),
      el('td', { className: 'num' }, fmt(q.deadLetters ?? 0)),
      el('td', { className: 'mono' }, Object.entries(q.dropped ?? {}).map(([r, n]) => `${r}:${n}`).join(' ') || '-'),
      el('td', {}, queueActions(q, report.visibilityTimeout)),
    ),
  );
  root.append(
    el(
      'table',
      { id: 'queues' },
      el('tr', {}, ['queue', 'ready', 'by priority step', 'unacked', 'oldest unacked', 'dead letters', 'dropped', ''].map((h) => el('th', {}, h))),
      rows,
    ),
  );
  root.append(
    el(
      'p',
      { className: 'note' },
      `${fmt(report.unackedTotal)} unacked in all; restored by workers after a visibility timeout of ${fmt(report.visibilityTimeout)} s. `,
      canAct() && report.unackedTotal > 0
        ? el('button', {
            'data-action': 'restore-all',
            onclick: async () => {
              const answer = prompt('Restore the unacked messages of every queue unacked for more than how many seconds?', String(report.visibilityTimeout));
              const olderThan = secondsFrom(answer);
              if (olderThan === undefined) return;
              await act('restore', { olderThan });
              state.refresh();
            },
          }, 'restore unacked of every queue…')
        : '',
    ),
  );
  root.append(el('h2', {}, 'Exchanges and bindings'));
  root.append(
    el(
      'table',
      { id: 'exchanges' },
      el('tr', {}, ['exchange', 'type', 'routing key', 'queue'].map((h) => el('th', {}, h))),
      report.exchanges.flatMap((x) =>
        (x.bindings.length ? x.bindings : [null]).map((b) =>
          el('tr', {}, el('td', {}, x.name || "''"), el('td', {}, x.type), el('td', { className: 'mono' }, b ? b.routingKey || "''" : '-'), el('td', {}, b ? b.queue : '-')),
        ),
      ),
    ),
  );
  root.append(el('h2', {}, 'Rates'));
  const charts = el('div', { className: 'charts' });
  root.append(charts);
  main().replaceChildren(root);
  drawCharts(charts, history);
}

// A cleared or mistyped answer must never become 0 (Number('') is 0): 0 would restore messages
// workers are processing right now, and they would run twice.
function secondsFrom(answer) {
  if (answer === null) return undefined;
  const seconds = answer.trim() === '' ? NaN : Number(answer);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    status('restore: give a number of seconds above 0', 'error');
    return undefined;
  }
  return seconds;
}

function queueActions(q, visibilityTimeout) {
  if (!canAct()) return '';
  const buttons = [];
  if (q.unacked > 0) {
    buttons.push(
      el('button', {
        'data-action': 'restore',
        onclick: async () => {
          const answer = prompt(`Restore unacked messages of ${q.name} unacked for more than how many seconds?`, String(visibilityTimeout));
          const olderThan = secondsFrom(answer);
          if (olderThan === undefined) return;
          await act('restore', { queue: q.name, olderThan });
          state.refresh();
        },
      }, 'restore unacked…'),
    );
  }
  if ((q.deadLetters ?? 0) > 0) {
    buttons.push(
      el('button', {
        'data-action': 'requeue-dead-letters',
        onclick: async () => {
          await act('requeue-dead-letters', { queue: q.name }, `Requeue every valid dead letter of ${q.name}?`);
          state.refresh();
        },
      }, 'requeue dead letters'),
    );
  }
  return el('span', { className: 'actions' }, buttons);
}
