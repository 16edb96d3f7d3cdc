/**
 * The broker URLs of a Connection: each parsed once, the failover order among them (Kombu's
 * `failover_strategy`), the redacted form used in every message, and the passwords scrubbed from
 * driver errors. Nothing here connects.
 */
import type { ConnectionParams } from './connection-params.js';
import { FailoverCycle, type FailoverStrategy } from './failover.js';
import { sanitizeError, secretVariants } from './redaction.js';
import { GROUP_SCHEMES, redactUrl, splitUrls } from './url.js';

export class ConnectionTargets {
  readonly #params = new Map<string, ConnectionParams>();
  readonly #cycle: FailoverCycle;
  readonly #parse: (url: string) => ConnectionParams;
  readonly #secrets: string[];
  /** Every URL of the list, passwords replaced by `**`. */
  readonly redacted: string;

  constructor(url: string | readonly string[], parse: (url: string) => ConnectionParams, strategy: FailoverStrategy | undefined) {
    this.#parse = parse;
    const urls = splitUrls(url);
    // All sentinel:// (or cluster seed) URLs address one group that the transport handles itself
    // (docs/kombu-compatibility.md#failover).
    const targets = isGroupUrl(urls[0]) ? [urls.join(';')] : urls;
    for (const target of targets) this.#params.set(target, parse(target));
    this.#cycle = new FailoverCycle(targets, strategy);
    this.redacted = redactUrl(urls.join(';'));
    // Every URL's password, sentinel alternates included (they are parsed by the transport later),
    // and the sentinels' own (query or transport options), which the driver may quote in errors.
    this.#secrets = secretVariants(urls.flatMap((one) => passwordsOf(parse(one))));
  }

  /** How many URLs take turns. */
  get size(): number {
    return this.#cycle.size;
  }

  /** The URL connection attempts go to now (redacted). */
  get currentUrl(): string {
    return redactUrl(this.#cycle.current);
  }

  /** The parsed form of the URL attempts go to now. */
  get current(): ConnectionParams {
    const url = this.#cycle.current;
    return this.#params.get(url) ?? this.#parse(url);
  }

  /** A connection attempt failed: the next one goes to the next URL. */
  switchNext(): void {
    if (this.#cycle.size > 1) this.#cycle.next();
  }

  /** True when failure number `retries` ends a full pass over the URLs (when a retry may sleep). */
  completesCycle(retries: number): boolean {
    return this.#cycle.completesCycle(retries);
  }

  /** `error` with every password of these URLs scrubbed from its message and cause chain. */
  sanitize(error: unknown): Error {
    return sanitizeError(error, this.#secrets);
  }
}

/** The URL's password and the sentinels' (`sentinel_password`, `sentinelKwargs.password`). */
function passwordsOf(params: ConnectionParams): (string | undefined)[] {
  const options = params.transportOptions;
  const kwargs = options['sentinelKwargs'] ?? options['sentinel_kwargs'];
  const candidates = [params.password, options['sentinelPassword'], options['sentinel_password']];
  if (typeof kwargs === 'object' && kwargs !== null) candidates.push((kwargs as Record<string, unknown>)['password']);
  return candidates.filter((value): value is string => typeof value === 'string');
}

/** A sentinel:// or cluster URL: its list is one group of servers, not a failover order. */
function isGroupUrl(url: string | undefined): boolean {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(url ?? '')?.[1]?.toLowerCase();
  return scheme !== undefined && GROUP_SCHEMES.includes(scheme);
}
