import { pastListenerKey, type History, type IdLookup, type PastListener, type Snapshot } from '../model';
import { IdSet } from './id-set';

/** How long a closed listener keeps vouching for its port. */
export const PAST_LISTENER_TTL_MS = 60 * 60 * 1000;
const MAX_PAST_LISTENERS = 65_536;
const PRUNE_EVERY = 64;
/** Past this many listening endpoints seen since start, absence of one is no longer evidence. */
const MAX_LISTENERS_SEEN = 262_144;

type Handshake = History['handshakes'] extends ReadonlyMap<string, infer V> ? V : never;

/**
 * Memory across snapshots, which a single snapshot cannot have: listeners seen before (their
 * connections outlive them) and handshake states seen before (a socket seen in SYN_SENT is
 * outbound for life). Keyed by what stays stable: endpoints, and socket ids (kernel cookies).
 */
export class HistoryKeeper {
  private readonly pastListeners = new Map<string, PastListener>();
  private readonly handshakes = new Map<string, Handshake>();
  // Since the first snapshot: every listening endpoint seen (null once too many), and the
  // connections that first snapshot saw (they may predate tcpdir), dropped as they close.
  private since: number | null = null;
  private listenersSeen: Set<string> | null = new Set();
  private preExisting: IdLookup = new IdSet([]);
  private preExistingPorts = new Uint8Array(65536);
  private snapshots = 0;

  /** The history as it stood before `snap`, then learns from `snap`. */
  observe(snap: Snapshot): History {
    const first = this.since === null;
    const before: History = {
      pastListeners: new Map(this.pastListeners),
      handshakes: new Map(this.handshakes),
      since: this.since,
      listenersSeen: this.listenersSeen && !first ? new Set(this.listenersSeen) : null,
      preExisting: first ? null : this.preExisting,
      preExistingPorts: first ? null : this.preExistingPorts,
    };
    const now = snap.collectedAt;
    if (first) this.since = now;
    // The first snapshot's connections, forgotten as they close: checked every PRUNE_EVERY
    // snapshots only (a lookup per socket on every snapshot cost 40 ms at 100k). A forgotten id
    // cannot come back (cookies are never reused); a procfs tuple reused by a new connection
    // still counts as pre-existing, which only keeps unseen-listener silent.
    const prune = !first && this.preExisting.size > 0 && ++this.snapshots % PRUNE_EVERY === 0;
    const stillThere: string[] | null = first || prune ? [] : null;
    const ports = stillThere ? new Uint8Array(65536) : null;
    // Only sockets already in `handshakes` matter for expiry: mark those (a small map) instead of
    // putting every socket id of the snapshot into a Set.
    const alive = new Set<string>();
    const tracked = this.handshakes.size > 0;
    for (const s of snap.sockets) {
      if (s.state === 'LISTEN') {
        const key = pastListenerKey(s.family, s.localAddress, s.localPort, s.netns);
        if (this.listenersSeen) {
          this.listenersSeen.add(key);
          if (this.listenersSeen.size > MAX_LISTENERS_SEEN) this.listenersSeen = null;
        }
        this.pastListeners.delete(key); // re-insert: Map order is then oldest-seen first
        this.pastListeners.set(key, { family: s.family, address: s.localAddress, port: s.localPort, v6only: s.v6only, lastSeen: now });
        continue;
      }
      if (stillThere && (first || this.preExisting.has(s.id))) {
        stillThere.push(s.id);
        ports![s.localPort] = 1;
      }
      if (s.cookie === null) continue;
      if (tracked && this.handshakes.has(s.id)) alive.add(s.id);
      if (s.state === 'SYN_SENT' && !this.handshakes.has(s.id)) this.handshakes.set(s.id, { direction: 'OUTBOUND', state: s.state, seenAt: now });
      else if (s.state === 'SYN_RECV' && !this.handshakes.has(s.id)) this.handshakes.set(s.id, { direction: 'INBOUND', state: s.state, seenAt: now });
    }
    for (const id of before.handshakes.keys()) if (!alive.has(id)) this.handshakes.delete(id);
    // A new set, never the one handed out: earlier views keep theirs unchanged.
    if (stillThere) {
      this.preExisting = new IdSet(stillThere);
      this.preExistingPorts = ports!;
    }
    for (const [key, l] of this.pastListeners) {
      if (now - l.lastSeen <= PAST_LISTENER_TTL_MS && this.pastListeners.size <= MAX_PAST_LISTENERS) break;
      this.pastListeners.delete(key);
    }
    return before;
  }
}
