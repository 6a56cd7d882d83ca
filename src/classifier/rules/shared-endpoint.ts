import { formatEndpoint, type Socket } from '../../model';
import { ephemeralPlace, findListener, sharerCount, sharersMixRemotePorts, type Context } from '../context';
import type { Rule } from '../rule';

// Several connections on one local address and port, from different peer ports, look like the
// children of one server. Clients can share a local port too (SO_REUSEADDR, or a bound source
// port reused towards several servers), but then they talk to the same service port on each
// peer: when every connection sharing the endpoint has the same remote port the rule abstains.
// Under a live listener the rule abstains: the listener rule already says the endpoint is a
// server's, and counting the same fact twice would overstate it.
// The weight grows with the count and is capped, since even many sharers are not proof. Inside
// the ephemeral range it is cut to a quarter: connect() itself gives one ephemeral port to many
// connections as long as their destinations differ, so busy clients share local ports there.
export function sharedEndpointWeight(n: number, inEphemeralRange: boolean): number {
  const w = Math.min(1 + 0.5 * Math.log2(n), 3);
  return inEphemeralRange ? w / 4 : w;
}

function inEphemeral(conn: Socket, ctx: Context): boolean {
  return ephemeralPlace(ctx, conn) === 'inside';
}

export const sharedEndpoint: Rule = {
  name: 'shared-local-endpoint',
  favors: 'INBOUND',
  weight: 1.5,
  why: 'Several connections share this local address and port with different peer ports (1.5 for two, growing to 3; a quarter of that inside the ephemeral range, where connect() shares ports between destinations). Abstains when all peers use one port (the pattern of SO_REUSEADDR clients) and under a live listener (same fact as the listener rule).',
  score(conn, ctx) {
    const n = sharerCount(ctx, conn);
    if (n < 2 || !sharersMixRemotePorts(ctx, conn) || findListener(ctx, conn)) return 0;
    return sharedEndpointWeight(n, inEphemeral(conn, ctx));
  },
  detail(conn, ctx) {
    const n = sharerCount(ctx, conn);
    const note = inEphemeral(conn, ctx) ? ' (inside the ephemeral range, where clients share ports too)' : '';
    return `${n} connections share local endpoint ${formatEndpoint(conn.localAddress, conn.localPort)}${note}`;
  },
};
