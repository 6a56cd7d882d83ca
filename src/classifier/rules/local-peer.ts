import { formatEndpoint, type Socket } from '../../model';
import { findListener, type Context } from '../context';
import { kernelFinding } from './kernel';

// Both ends of a connection are on this host (loopback, or any local address): the two sockets
// have mirrored 4-tuples and opposite directions. The end on a live listener's endpoint is the
// accepted one, so when exactly one end has a listener both are settled. Otherwise an end whose
// own evidence is conclusive settles the other; failing that, the peer's evidence is weighed for
// this end too, turned around (and each end's remote-port hint is dropped: it is the same fact as
// the other end's local-port rules). Both ends then get complementary probabilities.
export const LOCAL_PEER_RULE = 'local-peer';
export const PEER_EVIDENCE_RULE = 'peer-evidence';
export const LISTENER_GONE_RULE = 'listener-gone';

// Both ends here, neither on a live listener, and nothing but port-number hints on either side:
// one end was accepted by a listener that has closed (or it was a simultaneous open), and the
// hints fit the mirror story as well (a server on an ephemeral port, a client bound to a service
// port). Such a pair is held below 0.85 (log-odds 1.73): a guess, never a high-confidence one.
const LISTENER_GONE_MAX_LLR = Math.log(0.85 / 0.15);

/**
 * The weight that brings a pair's log-odds `total` back within the listener-gone bound (0 when it
 * is within): it counts as evidence of its own, so the probability stays the logistic of the sum.
 */
export function listenerGoneScore(total: number): number {
  if (Math.abs(total) <= LISTENER_GONE_MAX_LLR) return 0;
  return total > 0 ? LISTENER_GONE_MAX_LLR - total : -LISTENER_GONE_MAX_LLR - total;
}

export const LISTENER_GONE_DETAIL =
  'both ends are on this host and neither has a live listener: one was accepted by a listener that has closed, and port numbers alone fit either story, so this stays a guess below 0.85';

/** What the first pass concluded about one end, from its own rules only. */
export interface EndState {
  /** What the kernel (eBPF) says: 1 inbound, -1 outbound, 0 nothing. Outranks listeners. */
  kernel: number;
  /** 1 certain inbound, -1 certain outbound, 0 not certain. */
  certain: number;
  /** Log-odds of INBOUND from its own finite rules, remote-port excluded. */
  ownLlr: number;
}

/** Signed score for `conn` from its local peer; +-Infinity when that settles it. */
export function peerScore(conn: Socket, peer: Socket, mine: EndState, theirs: EndState, ctx: Context): number {
  if (mine.kernel !== 0) return 0;
  if (theirs.kernel !== 0) return theirs.kernel > 0 ? -Infinity : Infinity;
  const myListener = findListener(ctx, conn) !== null;
  const peerListener = findListener(ctx, peer) !== null;
  if (myListener !== peerListener) return myListener ? Infinity : -Infinity;
  if (mine.certain !== 0) return 0;
  if (theirs.certain !== 0) return theirs.certain > 0 ? -Infinity : Infinity;
  return -theirs.ownLlr;
}

export function peerDetail(conn: Socket, peer: Socket, score: number, ctx: Context): { rule: string; detail: string } {
  const at = `the peer ${formatEndpoint(peer.localAddress, peer.localPort)} is a socket on this host`;
  if (Number.isFinite(score)) {
    return { rule: PEER_EVIDENCE_RULE, detail: `${at} whose own evidence says ${score < 0 ? 'inbound' : 'outbound'}` };
  }
  const k = kernelFinding(ctx, peer);
  if (k) return { rule: LOCAL_PEER_RULE, detail: `${at} and the kernel says it is ${k.direction.toLowerCase()} (${k.rule})` };
  const mine = findListener(ctx, conn);
  const theirs = findListener(ctx, peer);
  if (mine && !theirs) return { rule: LOCAL_PEER_RULE, detail: `${at} and is the client of listener ${formatEndpoint(mine.localAddress, mine.localPort)}` };
  if (theirs && !mine) return { rule: LOCAL_PEER_RULE, detail: `${at}, accepted by listener ${formatEndpoint(theirs.localAddress, theirs.localPort)}` };
  return { rule: LOCAL_PEER_RULE, detail: `${at} and is certainly ${score > 0 ? 'outbound' : 'inbound'}` };
}
