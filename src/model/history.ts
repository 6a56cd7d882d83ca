import type { Direction } from './verdict';

/**
 * What earlier snapshots saw, carried by the service from one snapshot to the next: a listener
 * that has since closed still says its port was a service port, and a socket once seen in a
 * handshake state keeps that direction for life.
 */
export interface History {
  /** Listening endpoints seen before, keyed by pastListenerKey(). */
  pastListeners: ReadonlyMap<string, PastListener>;
  /** Socket id -> direction observed from its handshake state in an earlier snapshot. */
  handshakes: ReadonlyMap<string, { direction: Exclude<Direction, 'UNKNOWN'>; state: string; seenAt: number }>;
  /** When the service started watching (its first snapshot's collectedAt); null or absent on that first snapshot. */
  since?: number | null;
  /**
   * Every listening endpoint (pastListenerKey) any earlier snapshot saw since `since`, never
   * forgotten; null when there were too many to keep (then nothing is concluded from absence).
   */
  listenersSeen?: ReadonlySet<string> | null;
  /** Ids of the connections the first snapshot saw that are still alive: they may predate tcpdir. */
  preExisting?: IdLookup | null;
  /** By local port: 1 when some connection of `preExisting` has it (a connection on a 0 port is new, without a lookup). */
  preExistingPorts?: Uint8Array | null;
}

/** A fixed set of socket ids (a ReadonlySet<string> is one). */
export interface IdLookup extends Iterable<string> {
  has(id: string): boolean;
  readonly size: number;
}

export interface PastListener {
  family: 'IPV4' | 'IPV6';
  address: string;
  port: number;
  v6only: boolean | null;
  lastSeen: number;
}

/** Key of a listening endpoint in its namespace (null: the snapshot's own). */
export function pastListenerKey(family: 'IPV4' | 'IPV6', address: string, port: number, netns: string | null = null): string {
  return netns === null ? `${family}|${address}|${port}` : `${netns}|${family}|${address}|${port}`;
}
