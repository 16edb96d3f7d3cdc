/**
 * The option and event types of `Connection`, and the zod schema that validates its options.
 */
import { z } from 'zod';
import type { TlsOptions } from './connection-params.js';
import type { FailoverStrategy } from './failover.js';
import type { RetryPolicy } from './retry-policy-types.js';
import type { Channel, ExpiredInfo, LinkState } from './transport.js';
import { TransportRegistry } from './transport-registry.js';
import { OptionNames, parseOptions } from './option-parsing.js';

/** The same names as the transport's state (see {@link LinkState}). */
export type ConnectionState = LinkState;

export interface ConnectionOptions {
  /** Transport options (camelCase or Kombu snake_case); they override the URL query. */
  transportOptions?: Record<string, unknown>;
  /** How alternates are picked after a failure (default 'round-robin'). */
  failoverStrategy?: FailoverStrategy;
  /** Seconds one connection attempt may take before it counts as failed. */
  connectTimeout?: number;
  /** TLS settings; `true` turns TLS on for redis:// with certificate verification. */
  tls?: TlsOptions | boolean;
  /** The virtual host (Redis db) when the URL gives none. */
  virtualHost?: string | number;
  /** Transport registry to resolve URL schemes in (default: the global default registry). */
  registry?: TransportRegistry;
}

/** Events of a Connection. None of them carries a password. */
export interface ConnectionEvents {
  /** The transport lost its link to the broker (forwarded from the transport). */
  connectionLost: [error: Error];
  /** The link is back: the transport reconnected by itself, or `ensure` reconnected. */
  reconnected: [];
  /** A background error of the transport that no caller was waiting for. */
  error: [error: Error];
  /** The transport moved a message it could not deliver to a dead-letter list (forwarded). */
  deadLettered: [info: { queue: string; reason: string }];
  /** A message's TTL had passed before a consumer took it: dead-lettered or dropped (forwarded). */
  expired: [info: ExpiredInfo];
}

export interface EnsureConnectionOptions extends RetryPolicy {
  signal?: AbortSignal;
  /** Called before each sleep with the error and the seconds about to be slept (0 between hosts). */
  onError?: (error: Error, intervalSeconds: number) => void;
}

export interface EnsureOptions extends EnsureConnectionOptions {
  /** Called with the new default channel after a reconnect (Kombu's `on_revive`). */
  onRevive?: (channel: Channel) => void;
}

export const CONNECTION_OPTION_NAMES = OptionNames.of<ConnectionOptions>({
  transportOptions: true, failoverStrategy: true, connectTimeout: true, tls: true, virtualHost: true, registry: true,
});

const RETRY_POLICY_NAMES = { maxRetries: true, intervalStart: true, intervalStep: true, intervalMax: true, timeout: true } as const;

export const RETRY_POLICY_OPTION_NAMES = OptionNames.of<RetryPolicy>(RETRY_POLICY_NAMES);

export const ENSURE_CONNECTION_OPTION_NAMES = OptionNames.of<EnsureConnectionOptions>({
  ...RETRY_POLICY_NAMES,
  signal: true,
  onError: true,
});

export const ENSURE_OPTION_NAMES = OptionNames.of<EnsureOptions>({ ...RETRY_POLICY_NAMES, signal: true, onError: true, onRevive: true });

/** The TLS settings object (TlsOptions), for the `tls` connection option and transports' own TLS options. */
export const tlsOptionsSchema = z
  .object({
    ca: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
    servername: z.string().optional(),
    rejectUnauthorized: z.boolean().optional(),
    checkHostname: z.boolean().optional(),
  })
  .strict();

export const connectionOptionsSchema = z
  .object({
    transportOptions: z.record(z.string(), z.unknown()).optional(),
    failoverStrategy: z
      .custom<FailoverStrategy>((value) => value === 'round-robin' || value === 'shuffle' || typeof value === 'function', {
        message: "expected 'round-robin', 'shuffle' or a function returning an iterator of URLs",
      })
      .optional(),
    connectTimeout: z.number().positive({ message: 'expected a number of seconds > 0' }).optional(),
    tls: z
      .union([
        z.boolean(),
        tlsOptionsSchema,
      ], { error: 'expected true, false or { ca, cert, key, servername, rejectUnauthorized, checkHostname }' })
      .optional(),
    virtualHost: z.union([z.string(), z.number().int().min(0)]).optional(),
    registry: z.instanceof(TransportRegistry).optional(),
  })
  .strict();

/** Kombu's `ensure` defaults: reconnect quickly, retry for ever (docs/kombu-compatibility.md#retry). */
export const ENSURE_DEFAULTS = { intervalStart: 1, intervalStep: 1, intervalMax: 1 } as const;

const lazyPolicySchema = z.object({
  maxRetries: z.number().int().min(0).optional(),
  intervalStart: z.number().min(0).optional(),
  intervalStep: z.number().min(0).optional(),
  intervalMax: z.number().min(0).optional(),
});

/** The retry policy in transport options (Kombu's failover options), if any. */
export function lazyConnectPolicy(transportOptions: Record<string, unknown>): RetryPolicy | undefined {
  const { maxRetries, intervalStart, intervalStep, intervalMax } = transportOptions;
  const picked = { maxRetries, intervalStart, intervalStep, intervalMax };
  if (Object.values(picked).every((value) => value === undefined)) return undefined;
  const policy = parseOptions(lazyPolicySchema, picked, 'Connection transportOptions');
  return Object.fromEntries(Object.entries(policy).filter(([, value]) => value !== undefined)) as RetryPolicy;
}
