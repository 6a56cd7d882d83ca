import { pastListenerKey, type Socket } from '../../model';
import { findListener, seenListenerPorts, type Context } from '../context';
import type { Rule } from '../rule';

// The service keeps every listening endpoint any snapshot saw since it started, and the
// connections its first snapshot saw. A connection born since then (not in that first snapshot)
// on an endpoint where no listener was ever seen is inbound only if its listener opened and
// closed between two snapshots (a passive-mode FTP data listener does): far more often it is a
// client, bound or not. Silent for connections that may predate tcpdir (their listener may have
// closed before it started) and when the service could not keep every listener.
export const UNSEEN_LISTENER_WEIGHT = 4;

function unseen(conn: Socket, ctx: Context): boolean {
  const h = ctx.snapshot.history;
  if (!h || h.since == null || !h.listenersSeen || !h.preExisting) return false;
  // Cheapest questions first: a live listener's children end here, most clients at the port set.
  if (findListener(ctx, conn)) return false;
  if (seenListenerPorts(ctx).has(conn.localPort)) {
    const seen = h.listenersSeen;
    const wildcard = conn.family === 'IPV4' ? '0.0.0.0' : '::';
    if (seen.has(pastListenerKey(conn.family, conn.localAddress, conn.localPort, conn.netns)) ||
      seen.has(pastListenerKey(conn.family, wildcard, conn.localPort, conn.netns))) return false;
  }
  // Most new connections sit on a port no pre-existing one has: no lookup by id for them.
  return (h.preExistingPorts != null && h.preExistingPorts[conn.localPort] === 0) || !h.preExisting.has(conn.id);
}

export const unseenListener: Rule = {
  name: 'unseen-listener',
  favors: 'OUTBOUND',
  weight: UNSEEN_LISTENER_WEIGHT,
  why: `The connection was born while tcpdir ran (its first snapshot did not hold it) and no snapshot since then saw a listener on its local endpoint: inbound only if a listener opened and closed between two snapshots (${UNSEEN_LISTENER_WEIGHT}).`,
  score(conn, ctx) {
    return conn.state !== 'LISTEN' && unseen(conn, ctx) ? -UNSEEN_LISTENER_WEIGHT : 0;
  },
  detail(conn, ctx) {
    const since = new Date(ctx.snapshot.history!.since!).toISOString();
    return `born after tcpdir started (${since}), and no listener was seen on local port ${conn.localPort} since then`;
  },
};
