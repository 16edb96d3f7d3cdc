// Messages: one queue's waiting, unacked or dead-letter messages, and the per-message actions.
import { act, age, api, canAct, el, fmt, main, state } from './dom.js';

export const browse = { queue: '', source: 'waiting', step: 0, order: 'oldest', offset: 0, limit: 25 };

export function openMessages(queue) {
  browse.queue = queue;
  browse.offset = 0;
  location.hash = '#messages';
}

export function messageBlock(view, extra = []) {
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

export async function showMessages() {
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
    list.append(pager(page.total, page.items.length));
  } else if (browse.source === 'unacked') {
    const page = await api(`/api/unacked?queue=${q}&offset=${browse.offset}&limit=${browse.limit}`);
    if (stale()) return;
    list.append(el('p', { className: 'note' }, `${fmt(page.items.length)} unacked for ${browse.queue} shown from #${fmt(browse.offset + 1)}, oldest delivery first.`));
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
    // The total is not known per queue without reading every record: next is offered while pages are full.
    list.append(pager(page.items.length === browse.limit || page.limitedByBytes ? browse.offset + page.items.length + 1 : browse.offset + page.items.length, page.items.length));
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

// A page of large messages is cut short by the server's byte bound: next starts after what it showed.
function pager(total, shown) {
  return el('div', { className: 'controls' },
    el('button', { disabled: browse.offset === 0, onclick: () => { browse.offset = Math.max(0, browse.offset - browse.limit); showMessages(); } }, '‹ previous'),
    el('button', { disabled: browse.offset + shown >= total, onclick: () => { browse.offset += shown; showMessages(); } }, 'next ›'));
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
  const count = prompt('How many (oldest first)? Leave empty for all those waiting now.', '');
  if (count === null) return;
  await act('move', { from: queue, to, ...(count.trim() ? { limit: Number(count) } : {}) });
  showMessages();
}
