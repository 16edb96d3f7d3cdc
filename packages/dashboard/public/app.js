// The dashboard page. Every piece of broker data is put into the page as text (textContent,
// never innerHTML), and the Content-Security-Policy allows scripts from this origin only: a
// message body holding markup shows as that markup, it never runs.
import { api, state, status } from './dom.js';
import { showMessages } from './messages.js';
import { showOverview } from './overview.js';
import { showSearch } from './search.js';

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
  state.refresh = refresh;
  if (!state.token) throw new Error('open the page URL kelp dashboard prints (it ends with #token=...): the API needs its token');
  state.config = await api('/api/config');
  document.getElementById('broker').textContent = `${state.config.broker} (${state.config.transport})`;
  const mode = document.getElementById('mode');
  mode.textContent = state.config.readOnly ? 'read-only' : 'actions enabled';
  mode.className = state.config.readOnly ? 'badge ro' : 'badge';
  window.addEventListener('hashchange', route);
  route();
  // The overview follows the broker; the other views change only when asked.
  state.timer = setInterval(() => { if (state.view === 'overview') refresh(); }, 5000);
}

start().catch((error) => status(error.message, 'error'));
