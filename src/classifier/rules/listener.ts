import { formatEndpoint } from '../../model';
import { findListener } from '../context';
import type { Rule } from '../rule';

// A live listener on the connection's local address (or its family's wildcard) and port: the
// connection is almost surely one of its children. Not proof: a client can bind a listener's
// port with SO_REUSEPORT (same user), so the weight stays finite.
export const LISTENER_WEIGHT = 5;

export const listener: Rule = {
  name: 'listener',
  favors: 'INBOUND',
  weight: LISTENER_WEIGHT,
  why: 'A LISTEN socket on the same address (or the family wildcard; dual-stack :: covers IPv4-mapped unless V6ONLY) and port owns this local endpoint. Clients can share it only through SO_REUSEPORT.',
  score(conn, ctx) {
    return findListener(ctx, conn) ? LISTENER_WEIGHT : 0;
  },
  detail(conn, ctx) {
    const l = findListener(ctx, conn)!;
    const how = l.localAddress === conn.localAddress ? '' : l.family === 'IPV6' && conn.localAddress.includes('.') ? ' (dual-stack wildcard)' : ' (wildcard)';
    return `listener ${formatEndpoint(l.localAddress, l.localPort)}${how} owns this local port`;
  },
};
