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
}

export interface PastListener {
  family: 'IPV4' | 'IPV6';
  address: string;
  port: number;
  v6only: boolean | null;
  lastSeen: number;
}

export function pastListenerKey(family: 'IPV4' | 'IPV6', address: string, port: number): string {
  return `${family}|${address}|${port}`;
}
