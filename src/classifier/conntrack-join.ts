import { CT_TCP_FLAG, isLoopback, unmapIPv4, type ConntrackEntry, type ConntrackTuple, type Socket } from '../model';
import type { Context } from './context';

// Joining conntrack entries to sockets. A socket's packets leave it as (local -> remote); conntrack
// records the first packet it saw as ORIGINAL and the answer it expects, after NAT, as REPLY. So a
// socket whose (local -> remote) is an entry's ORIGINAL sent that first packet, and one whose
// (local -> remote) is its REPLY answered. That one lookup covers every case: no NAT (the two
// tuples mirror each other), DNAT to a local backend (the backend's socket is REPLY), and a flow
// tracked in another namespace (a router or the host masquerading for a container: the client's
// socket is ORIGINAL there, the server's is REPLY).

export type ConntrackSide = 'original' | 'reply';

/** How much an entry's ORIGINAL side says about who opened the connection. */
export type ConntrackOrigin =
  /** tcpdir received the entry's NEW event in state SYN_SENT: made from the opening SYN. */
  | 'seen-created'
  /** Neither direction carries BE_LIBERAL: tcp_new() made it from a SYN. */
  | 'syn'
  /** Both directions carry BE_LIBERAL (with SACK_PERM): tcp_new() adopted it mid-stream (nf_conntrack_tcp_loose). */
  | 'mid-stream'
  /** No TCP flags to tell by. */
  | 'unknown';

export interface ConntrackMatch {
  entry: ConntrackEntry;
  side: ConntrackSide;
  /** The entry lives in another namespace than the socket. */
  crossNamespace: boolean;
}

interface Candidate {
  entry: ConntrackEntry;
  side: ConntrackSide;
  /** The tuple's addresses, IPv4-mapped text unmapped. */
  src: string;
  dst: string;
}

// Keyed by the tuple's two ports (a number: no string built per connection, which cost most of
// classify's time with 100k tracked connections), then compared by address.
// `(sp << 16) | dp` stays a small integer (a number above 2^31 would be a heap number, slow to hash).
const ports = (sp: number, dp: number): number => (sp << 16) | dp;
const plain = (a: string): string => (a.charCodeAt(0) === 58 ? unmapIPv4(a) : a);

const indexes = new WeakMap<Context, Map<number, Candidate | Candidate[]>>();

function index(ctx: Context): Map<number, Candidate | Candidate[]> | null {
  const entries = ctx.snapshot.conntrack?.entries;
  if (!entries || entries.length === 0) return null;
  let m = indexes.get(ctx);
  if (!m) {
    const idx = new Map<number, Candidate | Candidate[]>();
    const add = (t: ConntrackTuple, entry: ConntrackEntry, side: ConntrackSide) => {
      const k = ports(t.srcPort, t.dstPort);
      const c: Candidate = { entry, side, src: plain(t.src), dst: plain(t.dst) };
      const cur = idx.get(k);
      if (cur === undefined) idx.set(k, c);
      else if (Array.isArray(cur)) cur.push(c);
      else idx.set(k, [cur, c]);
    };
    for (const entry of entries) {
      const o = entry.original, r = entry.reply;
      add(o, entry, 'original');
      // A tuple that is its own mirror (a socket connected to itself) is ORIGINAL only.
      if (!(o.src === r.src && o.dst === r.dst && o.srcPort === r.srcPort && o.dstPort === r.dstPort)) add(r, entry, 'reply');
    }
    indexes.set(ctx, (m = idx));
  }
  return m;
}

/**
 * The entry that tracks `conn`, and on which side: from the socket's own namespace first; else
 * from other namespaces that agree (non-loopback tuples only: every namespace has its own
 * 127.0.0.1). Null when none does, or when the candidates disagree on the side.
 */
export function conntrackMatch(ctx: Context, conn: Socket): ConntrackMatch | null {
  const m = index(ctx);
  if (!m) return null;
  const hit = m.get(ports(conn.localPort, conn.remotePort));
  if (hit === undefined) return null;
  const la = plain(conn.localAddress), ra = plain(conn.remoteAddress);
  const list = Array.isArray(hit) ? hit : [hit];
  let own: Candidate | null = null, other: Candidate | null = null;
  let ownConflict = false, otherConflict = false;
  for (const c of list) {
    if (c.src !== la || c.dst !== ra) continue;
    if (c.entry.netns === conn.netns) {
      if (own && own.side !== c.side) ownConflict = true;
      if (!own || preferred(c, own)) own = c;
    } else {
      if (other && other.side !== c.side) otherConflict = true;
      if (!other || preferred(c, other)) other = c;
    }
  }
  if (own) return ownConflict ? null : { entry: own.entry, side: own.side, crossNamespace: false };
  if (!other || otherConflict || isLoopback(la) || isLoopback(ra)) return null;
  return { entry: other.entry, side: other.side, crossNamespace: true };
}

/** A live state over TIME_WAIT/CLOSE when a tuple is tracked more than once (zones). */
function preferred(c: Candidate, cur: Candidate): boolean {
  const done = (x: Candidate) => x.entry.tcpState === 'TIME_WAIT' || x.entry.tcpState === 'CLOSE';
  return done(cur) && !done(c);
}

export function conntrackOrigin(e: ConntrackEntry): ConntrackOrigin {
  if (e.seenCreatedFromSyn) return 'seen-created';
  if (e.flagsOriginal === null || e.flagsReply === null) return 'unknown';
  const lo = (e.flagsOriginal & CT_TCP_FLAG.BE_LIBERAL) !== 0, lr = (e.flagsReply & CT_TCP_FLAG.BE_LIBERAL) !== 0;
  if (!lo && !lr) return 'syn';
  return lo && lr ? 'mid-stream' : 'unknown';
}

interface EndpointView { address: string; port: number }

/** The NAT view of an entry: null when the REPLY tuple is just ORIGINAL turned around. */
export function natOf(e: ConntrackEntry): { originalSource: EndpointView; originalDestination: EndpointView; replySource: EndpointView; replyDestination: EndpointView } | null {
  const o = e.original, r = e.reply;
  if (unmapIPv4(o.src) === unmapIPv4(r.dst) && o.srcPort === r.dstPort && unmapIPv4(o.dst) === unmapIPv4(r.src) && o.dstPort === r.srcPort) return null;
  return {
    originalSource: { address: o.src, port: o.srcPort },
    originalDestination: { address: o.dst, port: o.dstPort },
    replySource: { address: r.src, port: r.srcPort },
    replyDestination: { address: r.dst, port: r.dstPort },
  };
}

/** Entries no socket of the snapshot matches (forwarded flows of a router namespace, or a socket out of sight). */
export function unjoinedEntries(ctx: Context): ConntrackEntry[] {
  const entries = ctx.snapshot.conntrack?.entries ?? [];
  if (entries.length === 0) return [];
  const joined = new Set<ConntrackEntry>();
  for (const c of ctx.conns) {
    const mt = conntrackMatch(ctx, c);
    if (mt) joined.add(mt.entry);
  }
  return entries.filter((e) => !joined.has(e));
}
