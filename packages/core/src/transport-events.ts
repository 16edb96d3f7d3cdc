/**
 * Re-emits a transport's events on its Connection, with passwords scrubbed from error messages.
 */
import type { ConnectionEvents } from './connection-options.js';
import type { ExpiredInfo, Transport } from './transport.js';

export interface EventSink {
  emit<E extends keyof ConnectionEvents>(event: E, ...args: ConnectionEvents[E]): void;
  hasListeners(event: keyof ConnectionEvents): boolean;
  sanitize(error: Error): Error;
}

/** Attaches the forwarding listeners; returns the function that detaches them. */
export function forwardTransportEvents(transport: Transport, sink: EventSink): () => void {
  // The transport reconnects by itself after 'connectionLost'; the connection's state stays as it
  // is, so callers keep using the transport while it does.
  const onLost = (error: Error): void => sink.emit('connectionLost', sink.sanitize(error));
  const onReconnected = (): void => sink.emit('reconnected');
  const onError = (error: Error): void => {
    // Node's EventEmitter throws an 'error' nobody listens to; a background error must not crash.
    if (sink.hasListeners('error')) sink.emit('error', sink.sanitize(error));
  };
  // Applications count dead letters on the connection, whichever transport instance is current.
  const onDeadLettered = (info: { queue: string; reason: string }): void => sink.emit('deadLettered', { ...info });
  const onExpired = (info: ExpiredInfo): void => sink.emit('expired', { ...info });
  transport.on('connectionLost', onLost);
  transport.on('reconnected', onReconnected);
  transport.on('error', onError);
  transport.on('deadLettered', onDeadLettered);
  transport.on('expired', onExpired);
  return () => {
    transport.off('connectionLost', onLost);
    transport.off('reconnected', onReconnected);
    transport.off('error', onError);
    transport.off('deadLettered', onDeadLettered);
    transport.off('expired', onExpired);
  };
}
