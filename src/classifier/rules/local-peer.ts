import { formatEndpoint, type Evidence, type Socket } from '../../model';
import { findListener, type Context } from '../context';
import { conclusive, evidence } from '../rule';

// Both ends of a connection are on this host (loopback, or any local address): the two sockets
// have mirrored 4-tuples and opposite directions. The end on a live listener's endpoint is the
// accepted one, so when exactly one end has a listener both are settled. Otherwise, the end whose
// own evidence is certain settles the other; failing that, the peer's evidence is weighed for
// this end too, turned around (each end's remote-port hint is dropped: it is the same fact as the
// other end's local-port rules).
export const LOCAL_PEER_RULE = 'local-peer';
export const PEER_EVIDENCE_RULE = 'peer-evidence';

export interface FirstPass {
  evidence: Evidence[];
  certain: boolean;
  direction: 'INBOUND' | 'OUTBOUND' | 'UNKNOWN';
  /** Log-odds of INBOUND from this end's own rules, remote-port excluded. */
  ownLlr: number;
}

export function peerEvidence(conn: Socket, peer: Socket, mine: FirstPass, theirs: FirstPass, ctx: Context): Evidence | null {
  const peerAt = formatEndpoint(peer.localAddress, peer.localPort);
  const myListener = findListener(ctx, conn);
  const peerListener = findListener(ctx, peer);
  if (myListener && !peerListener) {
    return conclusive(LOCAL_PEER_RULE, 'INBOUND', `the peer ${peerAt} is a socket on this host and is the client of listener ${formatEndpoint(myListener.localAddress, myListener.localPort)}`);
  }
  if (peerListener && !myListener) {
    return conclusive(LOCAL_PEER_RULE, 'OUTBOUND', `the peer ${peerAt} is a socket on this host, accepted by listener ${formatEndpoint(peerListener.localAddress, peerListener.localPort)}`);
  }
  if (mine.certain) return null;
  if (theirs.certain && theirs.direction !== 'UNKNOWN') {
    const side = theirs.direction === 'INBOUND' ? 'OUTBOUND' : 'INBOUND';
    return conclusive(LOCAL_PEER_RULE, side, `the peer ${peerAt} is a socket on this host and is certainly ${theirs.direction.toLowerCase()}`);
  }
  if (theirs.ownLlr === 0) return null;
  const side = theirs.ownLlr > 0 ? 'OUTBOUND' : 'INBOUND';
  return evidence(
    PEER_EVIDENCE_RULE,
    side,
    Math.abs(theirs.ownLlr),
    `the peer ${peerAt} is a socket on this host whose own evidence says ${theirs.ownLlr > 0 ? 'inbound' : 'outbound'}`,
  );
}
