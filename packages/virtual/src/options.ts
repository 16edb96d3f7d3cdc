/**
 * Transport options every virtual transport understands, validated with zod. Values may come from
 * a URL query (strings) or an options object, so numbers are coerced and lists may be
 * comma-separated. Core has already turned snake_case keys into camelCase.
 */
import { ConfigurationError } from '@kelp/core';
import { z } from 'zod';
import { queueOrderStrategies } from './cycle.js';
import { DEFAULT_PRIORITY_SEP, DEFAULT_PRIORITY_STEPS } from './priority.js';

const seconds = z.coerce.number().positive();

const prioritySteps = z.preprocess(
  (value) => (typeof value === 'string' ? value.replace(/^\[|\]$/g, '').split(',').filter((s) => s.trim() !== '') : value),
  z.array(z.coerce.number().int().min(0).max(9)).min(1),
);

const queueList = z.preprocess(
  (value) => (typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s !== '') : value),
  z.array(z.string().min(1)),
);

/**
 * Dead-letter options, shared with transports that keep their own schema (Redis). Malformed
 * messages are always moved to the queue's dead-letter list; these options add RabbitMQ-like,
 * opt-in routing of *rejected* and *redelivered-too-often* messages there.
 */
export const deadLetterOptionsShape = {
  /**
   * Largest envelope (bytes, as stored) a consumer accepts; a bigger message is dead-lettered
   * unread instead of being decoded. Unlimited when unset. `maxBodySize` is accepted as an alias.
   */
  maxMessageBytes: z.coerce.number().int().positive().optional(),
  /**
   * Queues with dead-letter routing (`'*'` = every queue; comma-separated in a URL). For them a
   * reject without requeue, and a delivery past `maxRedeliveries`, go to the dead-letter list
   * instead of being dropped or redelivered again. The queue argument `x-dead-letter: true`
   * turns it on for one queue too.
   */
  deadLetterQueues: queueList.optional(),
  /**
   * On queues with dead-letter routing: the most redeliveries (counted in the `x-delivery-count`
   * header) before a message is dead-lettered. Unlimited when unset; the queue argument
   * `x-delivery-limit` overrides it per queue.
   */
  maxRedeliveries: z.coerce.number().int().min(0).optional(),
};

/** The options of `VirtualChannel`/`VirtualTransport`; transports extend this schema. */
export const virtualTransportOptionsSchema = z
  .object({
    /** Seconds a delivered, unacked message stays invisible before a restore sweep requeues it (3600). */
    visibilityTimeout: seconds.default(3600),
    /** `round_robin` (default), `priority`, `sorted` or a name registered with `registerQueueOrderStrategy`. */
    queueOrderStrategy: z
      .string()
      .default('round_robin')
      .refine((name) => queueOrderStrategies.has(name), {
        message: `unknown strategy; use round_robin, priority, sorted or register one first`,
      }),
    /** Priority sub-list steps ([0, 3, 6, 9]); producers and consumers must agree. */
    prioritySteps: prioritySteps.default([...DEFAULT_PRIORITY_STEPS]),
    /** Separator between a queue name and its priority step ('\x06\x16'). */
    sep: z.string().default(DEFAULT_PRIORITY_SEP),
    /** Where unroutable publishes go; without it they are reported as `unroutable` and not stored. */
    deadletterQueue: z.string().min(1).optional(),
    /** Seconds between visibility-timeout restore sweeps (10). */
    unackedRestoreInterval: seconds.default(10),
    /** Most messages one poll may take for one channel when its prefetch is unlimited (100). */
    pollBatchSize: z.coerce.number().int().positive().default(100),
    ...deadLetterOptionsShape,
  })
  .loose();

export type VirtualTransportOptions = z.output<typeof virtualTransportOptionsSchema>;
export type VirtualTransportOptionsInput = z.input<typeof virtualTransportOptionsSchema>;

/**
 * Core normally hands over camelCase keys already; snake_case ones (`visibility_timeout`) are
 * converted here too so a transport created directly behaves the same. camelCase wins on conflict.
 */
function camelCaseKeys(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const camel = key.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
    if (camel === key || !(camel in raw)) out[camel] = value;
  }
  // The name the fault suite proposed for the size limit; maxMessageBytes wins when both are set.
  if (out.maxMessageBytes === undefined && out.maxBodySize !== undefined) out.maxMessageBytes = out.maxBodySize;
  return out;
}

/**
 * Validates `raw` with `schema`; a failure becomes a ConfigurationError naming the option
 * (`transportOptions.<key>`) and what it accepts.
 */
export function parseTransportOptions<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const result = schema.safeParse(camelCaseKeys(raw ?? {}));
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.map(String).join('.') ?? '';
  const option = path ? `transportOptions.${path}` : 'transportOptions';
  throw new ConfigurationError(`Invalid ${option}: ${issue?.message ?? 'invalid value'}`, { option, cause: result.error });
}

/** Validates the virtual transport options (see {@link virtualTransportOptionsSchema}). */
export function parseVirtualTransportOptions(raw: unknown): VirtualTransportOptions {
  return parseTransportOptions(virtualTransportOptionsSchema, raw);
}
