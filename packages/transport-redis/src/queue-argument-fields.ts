/**
 * What a queue declaration writes to the queue's argument hash (RedisKeys.queueArgumentsKey), the
 * same in every key layout: the arguments the publish and touch scripts apply on the server
 * (route-and-push-0.lua, touch-queues-0.lua), so every process publishing to the queue applies them.
 */
import { queueExpires, queueLengthLimits, queueMessageTtl } from '@kelp/virtual';

/**
 * The fields of a queue's argument hash (RedisKeys.queueArgumentsKey): the arguments the publish
 * and touch scripts apply, validated (a bad value throws a ConfigurationError naming it).
 */
export function queueArgumentFields(args: Readonly<Record<string, unknown>>): Record<string, string> {
  const ttl = queueMessageTtl(args);
  const limits = queueLengthLimits(args);
  const expires = queueExpires(args);
  const fields: Record<string, string> = {};
  if (expires !== undefined) fields['x-expires'] = String(expires);
  if (ttl !== undefined) fields['x-message-ttl'] = String(ttl);
  if (limits?.maxLength !== undefined) fields['x-max-length'] = String(limits.maxLength);
  if (limits?.maxLengthBytes !== undefined) fields['x-max-length-bytes'] = String(limits.maxLengthBytes);
  if (limits) fields['x-overflow'] = limits.overflow;
  if (limits?.deadLetter) fields['x-dead-letter'] = '1';
  return fields;
}
