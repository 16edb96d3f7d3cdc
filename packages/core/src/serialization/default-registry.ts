/**
 * The process-wide serializer registry and the module-level helpers over it, mirroring Kombu's
 * `register`, `dumps`, `loads`, `enable_insecure_serializers`.
 */
import { jsonSerializer, msgpackSerializer, rawSerializer, textSerializer } from './builtins.js';
import { SerializerRegistry, type SerializerDefinition, type Serialized } from './registry.js';

/** Builds a registry holding the built-ins, with msgpack disabled for accept-less decoding (as Kombu). */
export function createSerializerRegistry(): SerializerRegistry {
  const registry = new SerializerRegistry();
  registry.register('json', jsonSerializer);
  registry.register('msgpack', msgpackSerializer);
  registry.register('text', textSerializer);
  registry.register('raw', rawSerializer);
  registry.disable('msgpack');
  return registry;
}

export const defaultSerializers: SerializerRegistry = createSerializerRegistry();

export function registerSerializer(name: string, definition: SerializerDefinition): void {
  defaultSerializers.register(name, definition);
}

export function unregisterSerializer(name: string): void {
  defaultSerializers.unregister(name);
}

/** Lets consumers without an `accept` list decode this type (Kombu's `enable_insecure_serializers`). */
export function enableSerializer(nameOrType: string): void {
  defaultSerializers.enable(nameOrType);
}

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
