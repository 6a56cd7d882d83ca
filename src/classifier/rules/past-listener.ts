import { formatEndpoint, pastListenerKey } from '../../model';
import { findListener, listenerCovers } from '../context';
import type { Rule } from '../rule';
import { evidence } from '../rule';

// The service remembers listeners from earlier snapshots. A connection on an endpoint that was a
// listening port, whose listener has since closed, is most likely one of its children. Weaker than
// a live listener: the port may since have been handed to a client.
export const PAST_LISTENER_WEIGHT = 3;

export const pastListener: Rule = {
  name: 'past-listener',
  favors: 'INBOUND',
  weight: PAST_LISTENER_WEIGHT,
  why: 'No live listener, but an earlier snapshot saw one on this local endpoint; the port may have been reused since.',
  evaluate(conn, ctx) {
    const past = ctx.snapshot.history?.pastListeners;
    if (!past || past.size === 0 || findListener(ctx, conn)) return null;
    const wildcard = conn.family === 'IPV4' ? '0.0.0.0' : '::';
    for (const address of [conn.localAddress, wildcard]) {
      const l = past.get(pastListenerKey(conn.family, address, conn.localPort));
      if (!l || !listenerCovers({ family: l.family, localAddress: l.address, localPort: l.port, v6only: l.v6only }, conn)) continue;
      return evidence(
        this.name,
        'INBOUND',
        PAST_LISTENER_WEIGHT,
        `listener ${formatEndpoint(l.address, l.port)} owned this local port until ${new Date(l.lastSeen).toISOString()}`,
      );
    }
    return null;
  },
};
