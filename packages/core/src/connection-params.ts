/**
 * What a broker URL and the connection options resolve to, as handed to a transport factory.
 * Produced by `parseUrl` (url.ts) and validated there; transports validate their own
 * `transportOptions` with zod.
 */

export interface TlsOptions {
  /** PEM text or a file path of the CA bundle. */
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  /** Verify the server certificate (default true, unlike Kombu 5.2.4's CERT_NONE). */
  rejectUnauthorized?: boolean;
  /** Check that the certificate names the host (default true; `ssl_check_hostname=false` turns it off). */
  checkHostname?: boolean;
}

export interface ConnectionParams {
  /** The transport alias the URL selected (`redis`, `rediss`, `memory`, ...). */
  transport: string;
  hostname: string;
  port: number | undefined;
  username: string | undefined;
  password: string | undefined;
  /** Virtual host: the Redis DB number as a string for Redis, a broker name for memory://. */
  virtualHost: string;
  /** Unix socket path (`redis+socket:///path`). */
  socketPath: string | undefined;
  /** TLS settings; `undefined` means plain TCP. */
  tls: TlsOptions | undefined;
  /**
   * Transport options merged from the URL query (snake_case) and the options object
   * (camelCase or snake_case). Keys are camelCase here; the transport validates them.
   */
  transportOptions: Record<string, unknown>;
  /** Further URLs of the same failover group (sentinel addresses for `sentinel://`). */
  alternates: readonly string[];
  /** The URL with the password replaced by `**`, safe for messages and logs. */
  redactedUrl: string;
}

/** A transport factory registered under one or more URL schemes. */
export interface TransportDefinition {
  /** URL schemes (`redis`, `rediss`, `valkey`, ...). */
  aliases: readonly string[];
  /** Default port when the URL has none (undefined for transports without one). */
  defaultPort?: number;
  /**
   * The transport option names (camelCase) the transport accepts. When given, an unknown option
   * (a typo such as `visiblity_timeout`) is a ConfigurationError instead of being ignored; the
   * options core consumes itself (maxRetries, intervalStart, intervalStep, intervalMax) are
   * always accepted. Leave undefined to accept anything.
   */
  optionNames?: readonly string[];
  /** Builds a transport. Must not connect yet (connections are lazy). */
  create(params: ConnectionParams): import('./transport.js').Transport;
}
