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
}

const key = (src: string, sp: number, dst: string, dp: number): string => `${unmapIPv4(src)}|${sp}|${unmapIPv4(dst)}|${dp}`;
const tupleKey = (t: ConntrackTuple): string => key(t.src, t.srcPort, t.dst, t.dstPort);

const indexes = new WeakMap<Context, Map<string, Candidate[]>>();

function index(ctx: Context): Map<string, Candidate[]> | null {
  const entries = ctx.snapshot.conntrack?.entries;
  if (!entries || entries.length === 0) return null;
  let m = indexes.get(ctx);
  if (!m) {
    m = new Map();
    const add = (k: string, c: Candidate) => {
      const a = m!.get(k);
      if (a) a.push(c);
      else m!.set(k, [c]);
    };
    for (const entry of entries) {
      const o = tupleKey(entry.original), r = tupleKey(entry.reply);
      add(o, { entry, side: 'original' });
      // A tuple that is its own mirror (a socket connected to itself) is ORIGINAL only.
      if (r !== o) add(r, { entry, side: 'reply' });
    }
    indexes.set(ctx, m);
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
  const cands = m.get(key(conn.localAddress, conn.localPort, conn.remoteAddress, conn.remotePort));
  if (!cands) return null;
  const own = pick(cands.filter((c) => c.entry.netns === conn.netns));
  if (own) return { ...own, crossNamespace: false };
  if (isLoopback(conn.localAddress) || isLoopback(conn.remoteAddress)) return null;
  const p = pick(cands.filter((c) => c.entry.netns !== conn.netns));
  return p ? { ...p, crossNamespace: true } : null;
}

/** One candidate, or null when none or when they disagree on the side. Newest-looking first: a live state over TIME_WAIT/CLOSE. */
function pick(cands: Candidate[]): Candidate | null {
  if (cands.length === 0) return null;
  if (cands.some((c) => c.side !== cands[0].side)) return null;
  return cands.find((c) => c.entry.tcpState !== 'TIME_WAIT' && c.entry.tcpState !== 'CLOSE') ?? cands[0];
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
