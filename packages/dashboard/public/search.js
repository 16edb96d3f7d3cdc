// Search: a bounded, streamed scan of waiting, unacked and dead-letter messages.
import { api, el, fmt, main, state } from './dom.js';
import { messageBlock } from './messages.js';

export async function showSearch() {
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
  const response = await fetch(`/api/search?${params}`, { signal: controller.signal, headers: { 'X-Kelp-Token': state.token } });
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
