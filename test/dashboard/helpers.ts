/**
 * Starting a dashboard in the test process and calling it the way the page does: reads with
 * fetch carrying the token, actions as JSON POSTs carrying the token and this origin.
 */
import { startDashboard, type Dashboard, type DashboardOptions } from '@kelp/dashboard';

export const TOKEN = 'test-token-0123456789abcdef';

export function dashboardFor(url: string, options: Omit<DashboardOptions, 'url'> = {}): Promise<Dashboard> {
  return startDashboard({ url, token: TOKEN, sampleInterval: 0.2, ...options });
}

export async function getJson<T = Record<string, unknown>>(dashboard: Dashboard, path: string, init: RequestInit = {}): Promise<{ status: number; body: T; text: string }> {
  const response = await fetch(new URL(path, dashboard.url), { ...init, headers: { 'X-Kelp-Token': TOKEN, ...(init.headers as Record<string, string> | undefined) } });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body: body as T, text };
}

/** An action as the page sends it; `headers` override the defaults (token, origin, JSON). */
export function act<T = Record<string, unknown>>(dashboard: Dashboard, name: string, body: unknown, headers: Record<string, string> = {}) {
  return getJson<T>(dashboard, `/api/actions/${name}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Kelp-Token': TOKEN, Origin: dashboard.url.replace(/\/$/, ''), ...headers },
    body: JSON.stringify(body),
  });
}

/** The NDJSON lines of a search. */
export async function search(dashboard: Dashboard, params: Record<string, string>): Promise<Record<string, unknown>[]> {
  const response = await fetch(new URL(`/api/search?${new URLSearchParams(params)}`, dashboard.url), { headers: { 'X-Kelp-Token': TOKEN } });
  const text = await response.text();
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
