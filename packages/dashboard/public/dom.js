// Shared by the page's modules: the state, building DOM from text only, and talking to the API.
// Every piece of broker data goes into the page through el() as a text node or an attribute
// value, never as markup.
export const state = { config: null, token: '', view: 'overview', timer: null, charts: [], search: null, generation: 0 };

// The per-run token arrives in the URL fragment (never sent to a server); keep it for this tab.
{
  const match = /(?:^#|&)token=([\w-]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem('kelp-token', match[1]);
    history.replaceState(null, '', location.pathname + '#overview');
  }
  state.token = sessionStorage.getItem('kelp-token') ?? '';
}

export function el(tag, attrs = {}, ...children) {
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

export const main = () => document.getElementById('main');
export const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US', { maximumFractionDigits: 1 }) : '-');
export const age = (s) => (s === null || s === undefined ? '-' : s < 90 ? `${fmt(s)} s` : s < 5400 ? `${fmt(s / 60)} min` : `${fmt(s / 3600)} h`);

export function status(text, kind = '') {
  const node = document.getElementById('status');
  node.textContent = text;
  node.className = kind;
}

export async function api(path, init = {}) {
  // Every API request carries the token: reads show message bodies too.
  const headers = { 'X-Kelp-Token': state.token, ...(init.headers ?? {}) };
  const response = await fetch(path, { credentials: 'same-origin', ...init, headers });
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
  return body;
}

export async function act(name, body, confirmText) {
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

export const canAct = () => state.config && !state.config.readOnly;
