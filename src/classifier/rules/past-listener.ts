import { formatEndpoint, pastListenerKey, type PastListener, type Socket } from '../../model';
import { findListener, listenerCovers, pastListenerPorts, type Context } from '../context';
import type { Rule } from '../rule';

// The service remembers listeners from earlier snapshots. A connection on an endpoint that was a
// listening port, whose listener has since closed, is most likely one of its children. Weaker than
// a live listener: the port may since have been handed to a client.
export const PAST_LISTENER_WEIGHT = 3;

function pastListenerOf(conn: Socket, ctx: Context): PastListener | null {
  const past = ctx.snapshot.history?.pastListeners;
  if (!past || past.size === 0 || !pastListenerPorts(ctx).has(conn.localPort) || findListener(ctx, conn)) return null;
  const wildcard = conn.family === 'IPV4' ? '0.0.0.0' : '::';
  for (const address of [conn.localAddress, wildcard]) {
    const l = past.get(pastListenerKey(conn.family, address, conn.localPort, conn.netns));
    if (l && listenerCovers({ family: l.family, localAddress: l.address, localPort: l.port, v6only: l.v6only }, conn)) return l;
  }
  return null;
}

export const pastListener: Rule = {
  name: 'past-listener',
  favors: 'INBOUND',
  weight: PAST_LISTENER_WEIGHT,
  why: 'No live listener, but an earlier snapshot saw one on this local endpoint; the port may have been reused since.',
  score(conn, ctx) {
    return pastListenerOf(conn, ctx) ? PAST_LISTENER_WEIGHT : 0;
  },
  detail(conn, ctx) {
    const l = pastListenerOf(conn, ctx)!;
    return `listener ${formatEndpoint(l.address, l.port)} owned this local port until ${new Date(l.lastSeen).toISOString()}`;
  },
};
