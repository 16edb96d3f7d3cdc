/**
 * Keeps the broker's password out of every page, log line and error the dashboard produces: the
 * URL is shown redacted, and any text leaving the server for an error goes through `scrub`.
 */
import { parseUrl, redactUrl, splitUrls } from 'kelp';

export interface Scrubber {
  /** The broker URL with passwords replaced by `**`. */
  readonly shownUrl: string;
  /** `text` with every password of the URL (as written and percent-encoded) replaced by `**`. */
  scrub(text: string): string;
}

export function scrubberFor(url: string): Scrubber {
  const secrets = new Set<string>();
  for (const one of splitUrls(url)) {
    let password: string | undefined;
    try {
      password = parseUrl(one).password;
    } catch {
      // An unparsable URL fails at connect with its own (redacted) error.
    }
    if (password) {
      secrets.add(password);
      secrets.add(encodeURIComponent(password));
    }
  }
  // Query-string passwords (`?password=`, `sentinel_password=`) are redacted by redactUrl.
  for (const match of url.matchAll(/[?&][a-z_]*password=([^&#;]+)/gi)) {
    const value = match[1];
    if (value) {
      secrets.add(value);
      try {
        secrets.add(decodeURIComponent(value));
      } catch {
        // Not percent-encoded: the raw form is already listed.
      }
    }
  }
  const ordered = [...secrets].sort((a, b) => b.length - a.length);
  return {
    shownUrl: redactUrl(url),
    scrub: (text) => ordered.reduce((result, secret) => result.split(secret).join('**'), text),
  };
}
