import { pastListenerKey, type History, type PastListener, type Snapshot } from '../model';

/** How long a closed listener keeps vouching for its port. */
export const PAST_LISTENER_TTL_MS = 60 * 60 * 1000;
const MAX_PAST_LISTENERS = 65_536;

type Handshake = History['handshakes'] extends ReadonlyMap<string, infer V> ? V : never;

/**
 * Memory across snapshots, which a single snapshot cannot have: listeners seen before (their
 * connections outlive them) and handshake states seen before (a socket seen in SYN_SENT is
 * outbound for life). Keyed by what stays stable: endpoints, and socket ids (kernel cookies).
 */
export class HistoryKeeper {
  private readonly pastListeners = new Map<string, PastListener>();
  private readonly handshakes = new Map<string, Handshake>();

  /** The history as it stood before `snap`, then learns from `snap`. */
  observe(snap: Snapshot): History {
    const before: History = { pastListeners: new Map(this.pastListeners), handshakes: new Map(this.handshakes) };
    const now = snap.collectedAt;
    // Only sockets already in `handshakes` matter for expiry: mark those (a small map) instead of
    // putting every socket id of the snapshot into a Set.
    const alive = new Set<string>();
    const tracked = this.handshakes.size > 0;
    for (const s of snap.sockets) {
      if (s.state === 'LISTEN') {
        const key = pastListenerKey(s.family, s.localAddress, s.localPort);
        this.pastListeners.delete(key); // re-insert: Map order is then oldest-seen first
        this.pastListeners.set(key, { family: s.family, address: s.localAddress, port: s.localPort, v6only: s.v6only, lastSeen: now });
        continue;
      }
      if (s.cookie === null) continue;
      if (tracked && this.handshakes.has(s.id)) alive.add(s.id);
      if (s.state === 'SYN_SENT' && !this.handshakes.has(s.id)) this.handshakes.set(s.id, { direction: 'OUTBOUND', state: s.state, seenAt: now });
      else if (s.state === 'SYN_RECV' && !this.handshakes.has(s.id)) this.handshakes.set(s.id, { direction: 'INBOUND', state: s.state, seenAt: now });
    }
    for (const id of before.handshakes.keys()) if (!alive.has(id)) this.handshakes.delete(id);
    for (const [key, l] of this.pastListeners) {
      if (now - l.lastSeen <= PAST_LISTENER_TTL_MS && this.pastListeners.size <= MAX_PAST_LISTENERS) break;
      this.pastListeners.delete(key);
    }
    return before;
  }
}
