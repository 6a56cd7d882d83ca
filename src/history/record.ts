// The record the recorder hands to the history store: one TCP connection's life, from open
// (or first sighting) to close. Plain data, no behaviour.

export type ObservedBy = 'KERNEL' | 'SNAPSHOT';
export type LifeDirection = 'INBOUND' | 'OUTBOUND' | 'UNKNOWN';
export const LIFE_DIRECTIONS: readonly LifeDirection[] = ['INBOUND', 'OUTBOUND', 'UNKNOWN'];

export interface ConnectionLife {
  /** Stable key of this connection life, unique in the store (the recorder builds it, e.g. from netns + socket cookie + opened time). Upserting the same key updates the row (open first, close later). */
  key: string;
  /** e.g. "net:[4026531840]" */
  netns: string | null;
  family: 'IPV4' | 'IPV6';
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  direction: LifeDirection;
  /** 0..1 */
  confidence: number;
  certain: boolean;
  /** The rule that settled it. */
  rule: string | null;
  /** ms since epoch; null when it existed before tcpdir started (preExisting). */
  openedAt: number | null;
  /** null while open. */
  closedAt: number | null;
  /** ms; == openedAt for births, first poll for snapshot/pre-existing ones. */
  firstSeenAt: number;
  preExisting: boolean;
  pid: number | null;
  command: string | null;
  bytesSent: number | null;
  bytesReceived: number | null;
  retransmits: number | null;
  observedBy: ObservedBy;
}

/**
 * A life the kernel saw born and closed between two of the recorder's writes (nearly every life
 * under churn), as it goes to the store: the socket cookie instead of the key, which is
 * `k:<cookie>:<openedAt>` (what a life block stores anyway: building the text only for the block
 * encoder to parse it back cost ~0.4 µs a life). See HistoryStore.write.
 */
export type ClosedKernelLife = Omit<ConnectionLife, 'key' | 'openedAt' | 'closedAt'> & { cookie: number; openedAt: number; closedAt: number };

/** The key of a ClosedKernelLife. */
export function closedKernelLifeKey(l: ClosedKernelLife): string {
  return `k:${l.cookie}:${l.openedAt}`;
}

/** What the store writes: lives, and closed kernel lives keyed by cookie. */
export type WrittenLife = ConnectionLife | ClosedKernelLife;

export function keyOf(l: WrittenLife): string {
  return 'key' in l ? l.key : closedKernelLifeKey(l);
}

/** A life as read back: `id` is the store's row id (text, opaque to callers). */
export type StoredLife = ConnectionLife & { id: string };

/** A hole in the record: events that were lost (e.g. the kernel ring buffer dropped N). */
export interface GapMarker {
  /** ms since epoch. */
  at: number;
  /** How many events were lost, when known. */
  lost: number | null;
  reason: string;
}
