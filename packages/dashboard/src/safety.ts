/**
 * What stands between a web page and the broker. A browser on the operator's machine runs pages
 * from anywhere, so the dashboard never trusts a request for being local:
 * - every response carries a strict Content-Security-Policy (no inline script, nothing from
 *   another origin), so a message body that holds markup can never run as script;
 * - the Host header must name the address the dashboard listens on, which defeats DNS
 *   rebinding (a hostile name resolved to 127.0.0.1 would otherwise be same-origin);
 * - with a password, every request needs HTTP basic auth;
 * - every API request, reads included, needs the per-run token in `X-Kelp-Token`: message bodies
 *   are data another local user must not read; the page itself (HTML, script, style) loads
 *   without it and takes the token from its URL fragment;
 * - a state-changing request needs the per-run token in `X-Kelp-Token` (a cross-site page
 *   cannot read it), a JSON body (a form cannot send one) and, when the browser says where it
 *   comes from (`Origin`, `Sec-Fetch-Site`), this origin;
 * - read-only refuses every action whatever it carries.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';

export const TOKEN_HEADER = 'x-kelp-token';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Constant-time comparison of two strings (different lengths compare unequal). */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function refuse(c: Context, status: 401 | 403 | 421, error: string): Response {
  return c.json({ error }, status);
}

export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    c.res.headers.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    c.res.headers.set('X-Content-Type-Options', 'nosniff');
    c.res.headers.set('X-Frame-Options', 'DENY');
    c.res.headers.set('Referrer-Policy', 'no-referrer');
    c.res.headers.set('Cross-Origin-Resource-Policy', 'same-origin');
    c.res.headers.set('Cache-Control', 'no-store');
  };
}

/**
 * The Host header values a bind answers to. A loopback bind pins them to its address and port;
 * until the port is known (port 0 is chosen by `listen`) it answers to none, so no request is
 * ever served unchecked. Another bind answers to names the operator chooses (a proxy, a DNS
 * name) and is guarded by its password instead: `allowed()` is then undefined.
 */
export class HostPin {
  #allowed: ReadonlySet<string> | undefined;

  constructor(
    private readonly shownHost: string,
    private readonly loopback: boolean,
    port: number,
  ) {
    this.#allowed = loopback ? (port > 0 ? this.hostsFor(port) : new Set()) : undefined;
  }

  private hostsFor(port: number): ReadonlySet<string> {
    return new Set([`${this.shownHost}:${port}`, `localhost:${port}`].map((h) => h.toLowerCase()));
  }

  /** Called with the port the server listens on. */
  listening(port: number): void {
    if (this.loopback) this.#allowed = this.hostsFor(port);
  }

  allowed(): ReadonlySet<string> | undefined {
    return this.#allowed;
  }
}

/**
 * Refuses a Host header other than the names this server answers to. `allowed()` is read per
 * request because the port is known only once the server listens.
 */
export function hostCheck(allowed: () => ReadonlySet<string> | undefined): MiddlewareHandler {
  return async (c, next) => {
    const hosts = allowed();
    const host = (c.req.header('host') ?? '').toLowerCase();
    if (hosts !== undefined && !hosts.has(host)) return refuse(c, 421, `unexpected Host header '${host.slice(0, 100)}'`);
    return next();
  };
}

export function basicAuth(password: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (password === undefined) return next();
    const header = c.req.header('authorization') ?? '';
    const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
    const decoded = match?.[1] ? Buffer.from(match[1], 'base64').toString('utf8') : '';
    const given = decoded.slice(decoded.indexOf(':') + 1);
    if (!match || !sameSecret(given, password)) {
      c.header('WWW-Authenticate', 'Basic realm="kelp dashboard", charset="UTF-8"');
      return refuse(c, 401, 'this dashboard needs its password (HTTP basic auth, any user name)');
    }
    return next();
  };
}

/**
 * Refuses API reads a browser says come from another site: another page cannot read the answer
 * (no CORS), but it could still make the dashboard run searches on its behalf. Navigating to the
 * page from a link elsewhere stays possible: only /api is guarded.
 */
export function sameSiteReads(): MiddlewareHandler {
  return async (c, next) => {
    const site = c.req.header('sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return refuse(c, 403, `cross-origin request refused (Sec-Fetch-Site: ${site.slice(0, 40)})`);
    return next();
  };
}

/** Refuses an API request without the per-run token: reads show message bodies. */
export function apiToken(token: string): MiddlewareHandler {
  return async (c, next) => {
    if (!sameSecret(c.req.header(TOKEN_HEADER) ?? '', token)) {
      return refuse(c, 403, 'missing or wrong token: the API needs the X-Kelp-Token header (the token kelp dashboard prints at start)');
    }
    return next();
  };
}

/** Guards every action route: read-only, token, same origin, JSON body. */
export function actionGuard(options: { readOnly: boolean; token: string }): MiddlewareHandler {
  return async (c, next) => {
    if (options.readOnly) return refuse(c, 403, 'this dashboard runs --read-only: actions are disabled');
    const token = c.req.header(TOKEN_HEADER) ?? '';
    if (!sameSecret(token, options.token)) return refuse(c, 403, 'missing or wrong action token (printed by kelp dashboard at start)');
    const site = c.req.header('sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return refuse(c, 403, `cross-origin action refused (Sec-Fetch-Site: ${site.slice(0, 40)})`);
    const origin = c.req.header('origin');
    if (origin !== undefined && origin !== `${new URL(c.req.url).protocol}//${c.req.header('host') ?? ''}`) {
      return refuse(c, 403, `cross-origin action refused (Origin: ${origin.slice(0, 100)})`);
    }
    if (!(c.req.header('content-type') ?? '').toLowerCase().startsWith('application/json')) {
      return refuse(c, 403, 'actions take a JSON body (Content-Type: application/json)');
    }
    return next();
  };
}
