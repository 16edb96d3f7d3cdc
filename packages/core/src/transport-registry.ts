/**
 * URL scheme -> transport factory. Core never imports a transport (design.md): the `kelp` package
 * registers memory:// and the Redis family on the {@link defaultRegistry}, and third-party
 * transports call {@link registerTransport} themselves.
 */
import type { TransportDefinition } from './connection-params.js';
import { ConfigurationError } from './errors.js';

export class TransportRegistry {
  readonly #byScheme = new Map<string, TransportDefinition>();

  /**
   * Registers `definition` under each of its aliases (case-insensitive). A later registration of an
   * alias replaces the earlier one, as Kombu's `TRANSPORT_ALIASES` does.
   * @returns a function that removes exactly these registrations (handy in tests).
   */
  register(definition: TransportDefinition): () => void {
    if (definition.aliases.length === 0) {
      throw new ConfigurationError('A transport definition needs at least one alias (URL scheme), e.g. aliases: ["redis"]', {
        option: 'aliases',
      });
    }
    const schemes = definition.aliases.map((alias) => alias.toLowerCase());
    for (const scheme of schemes) {
      if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) {
        throw new ConfigurationError(`Transport alias "${scheme}" is not a valid URL scheme (letters, digits, + . -)`, {
          option: 'aliases',
        });
      }
      this.#byScheme.set(scheme, definition);
    }
    return () => {
      for (const scheme of schemes) {
        if (this.#byScheme.get(scheme) === definition) this.#byScheme.delete(scheme);
      }
    };
  }

  /** True when `scheme` has a transport. */
  has(scheme: string): boolean {
    return this.#byScheme.has(scheme.toLowerCase());
  }

  /**
   * The transport registered for `scheme`.
   * @throws ConfigurationError listing the registered schemes.
   */
  resolve(scheme: string): TransportDefinition {
    const definition = this.#byScheme.get(scheme.toLowerCase());
    if (definition) return definition;
    const known = this.schemes();
    throw new ConfigurationError(
      `No transport is registered for "${scheme}://". Registered schemes: ${known.length > 0 ? known.join(', ') : '(none)'}. ` +
        "Import 'kelp' to register the built-in memory and redis transports, or call registerTransport().",
      { option: 'url' },
    );
  }

  /** Every registered scheme, sorted. */
  schemes(): string[] {
    return [...this.#byScheme.keys()].sort();
  }
}

/** The registry `Connection` and `parseUrl` use unless given another one. */
export const defaultRegistry = new TransportRegistry();

/** Registers `definition` on the {@link defaultRegistry}; returns the unregister function. */
export function registerTransport(definition: TransportDefinition): () => void {
  return defaultRegistry.register(definition);
}
