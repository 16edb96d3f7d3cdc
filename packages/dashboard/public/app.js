// The dashboard page. Every piece of broker data is put into the page as text (textContent,
// never innerHTML), and the Content-Security-Policy allows scripts from this origin only: a
// message body holding markup shows as that markup, it never runs.
import uPlot from '/assets/uplot.js';

const state = { config: null, token: '', view: 'overview', timer: null, charts: [], search: null, generation: 0 };

// The action token arrives in the URL fragment (never sent to a server); keep it for this tab.
{
  const match = /(?:^#|&)token=([\w-]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem('kelp-token', match[1]);
    history.replaceState(null, '', location.pathname + '#overview');
  }
  state.token = sessionStorage.getItem('kelp-token') ?? '';
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'className') node.className = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const main = () => document.getElementById('main');
const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US', { maximumFractionDigits: 1 }) : '-');
const age = (s) => (s === null || s === undefined ? '-' : s < 90 ? `${fmt(s)} s` : s < 5400 ? `${fmt(s / 60)} min` : `${fmt(s / 3600)} h`);

function status(text, kind = '') {
  const node = document.getElementById('status');
  node.textContent = text;
  node.className = kind;
}

async function api(path, init = {}) {
  const response = await fetch(path, { credentials: 'same-origin', ...init });
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
  return body;
}

async function act(name, body, confirmText) {
  if (confirmText && !confirm(confirmText)) return undefined;
  try {
    const result = await api(`/api/actions/${name}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Kelp-Token': state.token },
      body: JSON.stringify(body),
    });
    status(result.summary ?? `${name}: done`, 'ok');
    return result;
  } catch (error) {
    status(`${name} failed: ${error.message}`, 'error');
    return undefined;
  }
}

const canAct = () => state.config && !state.config.readOnly;

// ---- overview ---------------------------------------------------------------------------------

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

async function showOverview() {
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
      `${fmt(report.unackedTotal)} unacked in all; restored by workers after a visibility timeout of ${fmt(report.visibilityTimeout)} s.`,
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

function queueActions(q, visibilityTimeout) {
  if (!canAct()) return '';
  const buttons = [];
  if (q.unacked > 0) {
    buttons.push(
      el('button', {
        'data-action': 'restore',
        onclick: async () => {
          const answer = prompt(`Restore unacked messages of ${q.name} unacked for more than how many seconds?`, String(visibilityTimeout));
          if (answer === null) return;
          await act('restore', { queue: q.name, olderThan: Number(answer) });
          refresh();
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
          refresh();
        },
      }, 'requeue dead letters'),
    );
  }
  return el('span', { className: 'actions' }, buttons);
}

// ---- messages ---------------------------------------------------------------------------------

const browse = { queue: '', source: 'waiting', step: 0, order: 'oldest', offset: 0, limit: 25 };

function openMessages(queue) {
  browse.queue = queue;
  browse.offset = 0;
  location.hash = '#messages';
}

function messageBlock(view, extra = []) {
  const parts = [];
  if (view.problem) parts.push(el('div', { className: 'note' }, view.problem));
  if (view.task) {
    const t = view.task;
    parts.push(
      el('div', { className: 'task' }, `task ${t.name}`, t.id ? ` id ${t.id}` : '', t.eta ? ` eta ${t.eta}` : '', t.retries !== undefined ? ` retries ${t.retries}` : ''),
      el('div', { className: 'mono' }, `args ${JSON.stringify(t.args)} kwargs ${JSON.stringify(t.kwargs)}`),
    );
  }
  const meta = [
    view.contentType && `type ${view.contentType}`,
    view.priority !== undefined && `priority ${view.priority}`,
    view.routingKey !== undefined && `routing key ${view.routingKey}`,
    view.redelivered && 'redelivered',
    `${fmt(view.body.bytes)} bytes`,
  ].filter(Boolean);
  parts.push(el('div', { className: 'note' }, meta.join(' · ')));
  const headers = Object.keys(view.headers);
  if (headers.length) {
    parts.push(el('details', {}, el('summary', {}, `headers (${headers.length})`), el('pre', { className: 'headers' }, JSON.stringify(view.headers, null, 1))));
  }
  parts.push(el('pre', { className: `body ${view.body.kind}` }, view.body.text + (view.body.truncated ? ' …(truncated)' : '')));
  return el('div', {}, parts, extra);
}

async function showMessages() {
  // A later render (another choice made meanwhile) wins: an earlier one that finishes last
  // must not put a stale list back.
  const generation = ++state.generation;
  const stale = () => generation !== state.generation;
  const overview = await api('/api/overview');
  if (stale()) return;
  const root = el('div', { id: 'messages' });
  if (!browse.queue && overview.queues[0]) browse.queue = overview.queues[0].name;
  const queueSelect = el('select', { id: 'queue', onchange: (e) => { browse.queue = e.target.value; browse.offset = 0; showMessages(); } },
    overview.queues.map((q) => el('option', { value: q.name, selected: q.name === browse.queue }, q.name)));
  const sourceSelect = el('select', { id: 'source', onchange: (e) => { browse.source = e.target.value; browse.offset = 0; showMessages(); } },
    ['waiting', 'unacked', 'dead letters'].map((s) => el('option', { value: s, selected: s === browse.source }, s)));
  const controls = el('div', { className: 'controls' }, 'queue ', queueSelect, ' show ', sourceSelect);
  const queue = overview.queues.find((q) => q.name === browse.queue);
  if (browse.source === 'waiting') {
    const steps = Object.keys(queue?.priorityLengths ?? {}).length ? Object.keys(queue.priorityLengths) : ['0'];
    if (!steps.includes(String(browse.step))) browse.step = Number(steps[0]);
    controls.append(
      ' priority step ',
      el('select', { id: 'step', onchange: (e) => { browse.step = Number(e.target.value); browse.offset = 0; showMessages(); } },
        steps.map((s) => el('option', { value: s, selected: Number(s) === browse.step }, `${s} (${fmt(queue?.priorityLengths?.[s] ?? 0)})`))),
      ' order ',
      el('select', { id: 'order', onchange: (e) => { browse.order = e.target.value; browse.offset = 0; showMessages(); } },
        [['oldest', 'oldest first (next to be consumed)'], ['newest', 'newest first']].map(([v, t]) => el('option', { value: v, selected: v === browse.order }, t))),
    );
  }
  if (canAct() && queue) {
    controls.append(
      el('button', { className: 'danger', 'data-action': 'purge', onclick: () => purge(queue.name) }, 'purge…'),
      el('button', { 'data-action': 'move', onclick: () => move(queue.name) }, 'move messages…'),
    );
  }
  root.append(controls);
  const list = el('div', { id: 'list', 'data-queue': browse.queue, 'data-source': browse.source });
  root.append(list);
  main().replaceChildren(root);
  if (!browse.queue) {
    list.append(el('p', {}, 'No queues.'));
    return;
  }
  const q = encodeURIComponent(browse.queue);
  if (browse.source === 'waiting') {
    const page = await api(`/api/queues/${q}/messages?step=${browse.step}&order=${browse.order}&offset=${browse.offset}&limit=${browse.limit}`);
    if (stale()) return;
    list.append(el('p', { className: 'note' }, `${fmt(page.total)} waiting in step ${page.step}; showing ${fmt(page.offset + 1)}–${fmt(page.offset + page.items.length)} ${browse.order} first.`));
    list.append(el('table', { className: 'messages' },
      el('tr', {}, ['#', 'message', ''].map((h) => el('th', {}, h))),
      page.items.map((item) => el('tr', { 'data-id': item.id },
        el('td', { className: 'num' }, fmt(item.position + 1)),
        el('td', {}, messageBlock(item.view)),
        el('td', {}, el('span', { className: 'actions' },
          el('button', { onclick: () => showOne(item) }, 'full'),
          canAct() && el('button', { className: 'danger', 'data-action': 'delete', onclick: async () => {
            await act('delete', { queue: browse.queue, step: browse.step, id: item.id }, 'Delete this message for good?');
            showMessages();
          } }, 'delete'))),
      ))));
    list.append(pager(page.total));
  } else if (browse.source === 'unacked') {
    const page = await api(`/api/unacked?queue=${q}&offset=${browse.offset}&limit=${browse.limit}`);
    if (stale()) return;
    list.append(el('p', { className: 'note' }, `${fmt(page.items.length)} unacked for ${browse.queue}, oldest delivery first.`));
    list.append(el('table', { className: 'messages' },
      el('tr', {}, ['tag', 'unacked for', 'message', ''].map((h) => el('th', {}, h))),
      page.items.map((item) => el('tr', { 'data-tag': item.tag },
        el('td', { className: 'mono' }, item.tag),
        el('td', { className: 'num' }, age(item.age)),
        el('td', {}, messageBlock(item.view)),
        el('td', {}, canAct() && el('button', { 'data-action': 'restore-one', onclick: async () => {
          await act('restore', { tag: item.tag }, 'Put this message back on its queue now? If its consumer is still working on it, it will run twice.');
          showMessages();
        } }, 'restore')),
      ))));
  } else {
    const page = await api(`/api/queues/${q}/dead-letters?limit=100`);
    if (stale()) return;
    list.append(el('p', { className: 'note' }, `${fmt(page.entries.length)} dead letters shown (oldest first, at most 100).`));
    list.append(el('table', { className: 'messages' },
      el('tr', {}, ['when', 'reason', 'message', ''].map((h) => el('th', {}, h))),
      page.entries.map((entry) => el('tr', { 'data-id': entry.id },
        el('td', {}, entry.at ? new Date(entry.at * 1000).toISOString() : '-'),
        el('td', {}, entry.reason),
        el('td', {}, messageBlock(entry.view)),
        el('td', {}, canAct() && el('span', { className: 'actions' },
          el('button', { 'data-action': 'requeue-one', onclick: async () => {
            await act('requeue-dead-letters', { queue: browse.queue, id: entry.id });
            showMessages();
          } }, 'requeue'),
          el('button', { className: 'danger', 'data-action': 'delete-dead', onclick: async () => {
            await act('delete', { queue: browse.queue, deadLetterId: entry.id }, 'Delete this dead letter for good?');
            showMessages();
          } }, 'delete'))),
      ))));
  }
}

function pager(total) {
  return el('div', { className: 'controls' },
    el('button', { disabled: browse.offset === 0, onclick: () => { browse.offset = Math.max(0, browse.offset - browse.limit); showMessages(); } }, '‹ previous'),
    el('button', { disabled: browse.offset + browse.limit >= total, onclick: () => { browse.offset += browse.limit; showMessages(); } }, 'next ›'));
}

async function showOne(item) {
  const q = encodeURIComponent(browse.queue);
  const page = await api(`/api/queues/${q}/messages?step=${browse.step}&order=${browse.order}&offset=${item.position}&limit=1&full=1`);
  const found = page.items.find((i) => i.id === item.id);
  const box = el('div', { id: 'detail' }, el('h2', {}, `Message ${item.position + 1} of ${browse.queue}`),
    found ? messageBlock(found.view) : el('p', {}, 'This message has moved on (consumed, or its position changed).'),
    el('button', { onclick: () => showMessages() }, 'back'));
  main().replaceChildren(box);
}

async function purge(queue) {
  const typed = prompt(`Purging deletes every waiting message of ${queue}. Type the queue name to confirm:`);
  if (typed === null) return;
  await act('purge', { queue, confirm: typed });
  showMessages();
}

async function move(queue) {
  const to = prompt(`Move waiting messages of ${queue} to which queue?`);
  if (!to) return;
  const count = prompt('How many (oldest first)? Leave empty for all.', '');
  if (count === null) return;
  await act('move', { from: queue, to, ...(count.trim() ? { limit: Number(count) } : {}) });
  showMessages();
}

// ---- search -----------------------------------------------------------------------------------

async function showSearch() {
  const overview = await api('/api/overview');
  const results = el('div', { id: 'results' });
  const progress = el('p', { className: 'note', id: 'search-progress' });
  const text = el('input', { id: 'search-text', type: 'search', placeholder: 'text in a body or a header', size: 40 });
  const queue = el('select', { id: 'search-queue' }, el('option', { value: '' }, 'every queue'), overview.queues.map((q) => el('option', { value: q.name }, q.name)));
  const form = el('form', { className: 'controls', onsubmit: (e) => { e.preventDefault(); runSearch(text.value, queue.value, results, progress); } },
    text, ' in ', queue, el('button', { type: 'submit' }, 'search'), el('button', { type: 'button', onclick: () => state.search?.abort() }, 'stop'));
  main().replaceChildren(el('div', { id: 'search' }, form,
    el('p', { className: 'note' }, `Searches waiting messages, unacked messages and dead letters, reading at most ${fmt(state.config.searchLimit)} messages per search (oldest first); results appear as they are found. Leaving the page stops the search on the server.`),
    progress, results));
}

async function runSearch(text, queue, results, progress) {
  state.search?.abort();
  results.replaceChildren();
  if (!text) return;
  const controller = new AbortController();
  state.search = controller;
  const params = new URLSearchParams({ text, ...(queue ? { queue } : {}) });
  const response = await fetch(`/api/search?${params}`, { signal: controller.signal });
  if (!response.ok || !response.body) {
    progress.textContent = `search failed: HTTP ${response.status}`;
    return;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += value;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = JSON.parse(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        if (line.type === 'match') {
          const where = line.source === 'waiting' ? `waiting in ${line.queue} (step ${line.step}, #${line.position + 1})` : line.source === 'unacked' ? `unacked (tag ${line.tag})` : `dead letter of ${line.queue}`;
          results.append(el('div', { className: 'match', 'data-source': line.source }, el('h3', {}, where), messageBlock(line.view)));
        } else if (line.type === 'progress' || line.type === 'done') {
          progress.textContent = `${line.type === 'done' ? 'done' : 'searching'}: ${fmt(line.scanned)} messages read, ${fmt(line.matches)} found` +
            (line.type === 'done' && line.bounded ? ` (stopped at the bound of ${fmt(state.config.searchLimit)} messages)` : '');
        } else if (line.type === 'error') progress.textContent = `search failed: ${line.error}`;
      }
    }
  } catch (error) {
    if (error.name !== 'AbortError') progress.textContent = `search failed: ${error.message}`;
  }
}

// ---- frame ------------------------------------------------------------------------------------

const VIEWS = { overview: showOverview, messages: showMessages, search: showSearch };

async function refresh() {
  try {
    await VIEWS[state.view]();
  } catch (error) {
    status(error.message, 'error');
  }
}

function route() {
  const view = location.hash.replace('#', '') || 'overview';
  state.view = VIEWS[view] ? view : 'overview';
  if (state.view !== 'search') state.search?.abort();
  for (const link of document.querySelectorAll('nav a')) link.classList.toggle('active', link.dataset.view === state.view);
  refresh();
}

async function start() {
  state.config = await api('/api/config');
  document.getElementById('broker').textContent = `${state.config.broker} (${state.config.transport})`;
  const mode = document.getElementById('mode');
  mode.textContent = state.config.readOnly ? 'read-only' : state.token ? 'actions enabled' : 'actions need the token URL';
  mode.className = state.config.readOnly ? 'badge ro' : 'badge';
  if (!state.token) state.config.readOnly = true;
  window.addEventListener('hashchange', route);
  route();
  // The overview follows the broker; the other views change only when asked.
  state.timer = setInterval(() => { if (state.view === 'overview') refresh(); }, 5000);
}

start().catch((error) => status(error.message, 'error'));
