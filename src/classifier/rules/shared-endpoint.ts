import { formatEndpoint, type Socket } from '../../model';
import { endpointKey } from '../context';
import type { Rule } from '../rule';
import { evidence } from '../rule';

// Several connections on one local address and port, from different peer ports, look like the
// children of one server. Clients can share a local port too (SO_REUSEADDR, or a bound source
// port reused towards several servers), but then they talk to the same service port on each
// peer: when every connection sharing the endpoint has the same remote port the rule abstains.
// The weight grows with the count and is capped, since even many sharers are not proof.
export function sharedEndpointWeight(n: number): number {
  return Math.min(1 + 0.5 * Math.log2(n), 3);
}

// Servers with thousands of children would make a per-connection scan quadratic: decide once per group.
const mixedMemo = new WeakMap<readonly Socket[], boolean>();
function mixedRemotePorts(sharers: readonly Socket[]): boolean {
  let mixed = mixedMemo.get(sharers);
  if (mixed === undefined) {
    const first = sharers[0].remotePort;
    mixed = sharers.some((s) => s.remotePort !== first);
    mixedMemo.set(sharers, mixed);
  }
  return mixed;
}

export const sharedEndpoint: Rule = {
  name: 'shared-local-endpoint',
  favors: 'INBOUND',
  weight: 1.5,
  why: 'Several connections share this local address and port with different peer ports (1.5 for two, growing to 3). Abstains when all peers use one port (the pattern of SO_REUSEADDR clients).',
  evaluate(conn, ctx) {
    const sharers = ctx.byLocalEndpoint.get(endpointKey(conn.localAddress, conn.localPort));
    if (!sharers || sharers.length < 2) return null;
    if (!mixedRemotePorts(sharers)) return null;
    const w = sharedEndpointWeight(sharers.length);
    return evidence(
      this.name,
      'INBOUND',
      w,
      `${sharers.length} connections share local endpoint ${formatEndpoint(conn.localAddress, conn.localPort)}`,
    );
  },
};
