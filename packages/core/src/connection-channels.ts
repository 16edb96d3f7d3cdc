/**
 * Which Connection opened a Channel. A Consumer built on a bare channel (`await conn.channel()`)
 * has no other way to find the connection whose 'error' event should hear the errors nobody
 * handled, whose hub delivers its messages, or whose transport options say how long messages stay
 * invisible. A WeakMap, so a channel that is dropped takes its entry with it.
 */
import type { Channel } from './transport.js';

/** What a consumer asks of the connection that owns its channel. */
export interface ChannelOwner {
  /** The hub that delivers this channel's messages (running or not). */
  readonly hub: { readonly running: boolean };
  /** The transport's visibility timeout in seconds, when the connection knows it. */
  readonly visibilityTimeout: number | undefined;
  /** Emits the connection's 'error' event if anyone listens; false when nobody does. */
  reportError(error: unknown): boolean;
  /** A consumer finished handling a message (counts as progress for `drainEvents`). */
  noteHandled(): void;
}

const owners = new WeakMap<Channel, ChannelOwner>();

export function setChannelOwner(channel: Channel, owner: ChannelOwner): void {
  owners.set(channel, owner);
}

export function channelOwner(channel: Channel | undefined): ChannelOwner | undefined {
  return channel ? owners.get(channel) : undefined;
}
