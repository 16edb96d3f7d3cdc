/**
 * The process-wide serializer registry and the module-level helpers over it, mirroring Kombu's
 * `register`, `dumps`, `loads`, `enable_insecure_serializers`.
 */
import { jsonSerializer, msgpackSerializer, rawSerializer, textSerializer } from './builtins.js';
import { SerializerRegistry, type SerializerDefinition, type Serialized } from './registry.js';

/**
 * Builds a registry holding the built-ins, all enabled. Kombu disables msgpack (and yaml, pickle)
 * for accept-less consumers because its registry holds unsafe loaders; kelp has no unsafe
 * serializer at all (pickle is refused outright), so a consumer without `accept` decodes every
 * registered serializer and `accept` only narrows that set.
 */
export function createSerializerRegistry(): SerializerRegistry {
  const registry = new SerializerRegistry();
  registry.register('json', jsonSerializer);
  registry.register('msgpack', msgpackSerializer);
  registry.register('text', textSerializer);
  registry.register('raw', rawSerializer);
  return registry;
}

export const defaultSerializers: SerializerRegistry = createSerializerRegistry();

export function registerSerializer(name: string, definition: SerializerDefinition): void {
  defaultSerializers.register(name, definition);
}

export function unregisterSerializer(name: string): void {
  defaultSerializers.unregister(name);
}

/** Undoes {@link disableSerializer}: consumers without an `accept` list decode this type again. */
export function enableSerializer(nameOrType: string): void {
  defaultSerializers.enable(nameOrType);
}

/** Stops consumers without an `accept` list from decoding this type (every registered one is decoded by default). */
export function disableSerializer(nameOrType: string): void {
  defaultSerializers.disable(nameOrType);
}

export function dumps(value: unknown, serializer?: string): Serialized {
  return defaultSerializers.dumps(value, serializer);
}

export function loads(
  body: Uint8Array,
  contentType: string | null | undefined,
  contentEncoding: string | null | undefined,
  accept?: Iterable<string>,
): unknown {
  return defaultSerializers.loads(body, contentType, contentEncoding, accept);
}
