import { formatEndpoint } from '../../model';
import { findListener } from '../context';
import type { Rule } from '../rule';

// A live listener on the connection's local address (or its family's wildcard) and port: the
// connection is almost surely one of its children. Not proof: a client can bind a listener's
// port with SO_REUSEPORT (same user; P2P software does, to punch through NAT), so the weight
// stays finite. Such a client talks to a service port on the peer, while a child's peer is a
// client whose port is mostly in the client ranges (>= 32768) or privileged (< 1024: NFS/rsh
// style clients). So when the peer's port is a mid-range one (1024-32767) the listener counts
// for less: children of NATed clients land there too, but so does that SO_REUSEPORT client.
export const LISTENER_WEIGHT = 5;
export const LISTENER_MIDRANGE_PEER_WEIGHT = 2;

// A peer port below 1024 counts as mid-range: a child's client rarely binds a privileged port
// (rsh, NFS), while an SO_REUSEPORT client sharing a listener's port reaches well-known services.
function listenerWeight(remotePort: number): number {
  return remotePort < 32768 ? LISTENER_MIDRANGE_PEER_WEIGHT : LISTENER_WEIGHT;
}

export const listener: Rule = {
  name: 'listener',
  favors: 'INBOUND',
  weight: LISTENER_WEIGHT,
  why: `A LISTEN socket on the same address (or the family wildcard; dual-stack :: covers IPv4-mapped unless V6ONLY) and port owns this local endpoint: ${LISTENER_WEIGHT}; ${LISTENER_MIDRANGE_PEER_WEIGHT} when the peer's port is below 32768, where an SO_REUSEPORT client bound to the listening port would talk to a service.`,
  score(conn, ctx) {
    return findListener(ctx, conn) ? listenerWeight(conn.remotePort) : 0;
  },
  detail(conn, ctx) {
    const l = findListener(ctx, conn)!;
    const how = l.localAddress === conn.localAddress ? '' : l.family === 'IPV6' && conn.localAddress.includes('.') ? ' (dual-stack wildcard)' : ' (wildcard)';
    const peer = listenerWeight(conn.remotePort) === LISTENER_WEIGHT ? '' : ` (weighed less: the peer's port ${conn.remotePort} is not a typical client port)`;
    return `listener ${formatEndpoint(l.localAddress, l.localPort)}${how} owns this local port${peer}`;
  },
};
