import { unmapIPv4, type PortRange, type Snapshot, type Socket } from '../model';

/** Indexes over one snapshot, built once and shared by every rule. */
export interface Context {
  snapshot: Snapshot;
  /** LISTEN sockets by local port. */
  listenersByPort: Map<number, Socket[]>;
  /** Non-LISTEN sockets by `unmapped local address|port`. */
  byLocalEndpoint: Map<string, Socket[]>;
  /** Non-LISTEN sockets by `local|lport|remote|rport` (addresses unmapped). */
  byTuple: Map<string, Socket>;
  ephemeral: PortRange | null;
  reserved: PortRange[];
}

export function endpointKey(address: string, port: number): string {
  return `${unmapIPv4(address)}|${port}`;
}

export function tupleKey(la: string, lp: number, ra: string, rp: number): string {
  return `${unmapIPv4(la)}|${lp}|${unmapIPv4(ra)}|${rp}`;
}

export function buildContext(snapshot: Snapshot): Context {
  const listenersByPort = new Map<number, Socket[]>();
  const byLocalEndpoint = new Map<string, Socket[]>();
  const byTuple = new Map<string, Socket>();
  for (const s of snapshot.sockets) {
    if (s.state === 'LISTEN') {
      const list = listenersByPort.get(s.localPort);
      if (list) list.push(s);
      else listenersByPort.set(s.localPort, [s]);
      continue;
    }
    const ek = endpointKey(s.localAddress, s.localPort);
    const same = byLocalEndpoint.get(ek);
    if (same) same.push(s);
    else byLocalEndpoint.set(ek, [s]);
    byTuple.set(tupleKey(s.localAddress, s.localPort, s.remoteAddress, s.remotePort), s);
  }
  return {
    snapshot,
    listenersByPort,
    byLocalEndpoint,
    byTuple,
    ephemeral: snapshot.host.ephemeralPortRange,
    reserved: snapshot.host.reservedPorts,
  };
}

/**
 * Would a listener accept a connection arriving at `conn`'s local endpoint? Same port, and the
 * same address or its family's wildcard. Children keep their listener's family: an AF_INET
 * connection is never the child of an IPv6 listener, while an IPv4-mapped AF_INET6 connection
 * is the child of a dual-stack `::` listener (not of a V6ONLY one).
 */
export function listenerCovers(l: Pick<Socket, 'family' | 'localAddress' | 'localPort' | 'v6only'>, conn: Socket): boolean {
  if (l.localPort !== conn.localPort || l.family !== conn.family) return false;
  if (l.localAddress === conn.localAddress) return true;
  if (l.family === 'IPV4') return l.localAddress === '0.0.0.0';
  if (l.localAddress !== '::') return false;
  const mapped = conn.localAddress.startsWith('::ffff:') && conn.localAddress.includes('.');
  return !(mapped && l.v6only === true);
}

/** The live listener that owns `conn`'s local endpoint, preferring an exact address over a wildcard. */
export function findListener(ctx: Context, conn: Socket): Socket | null {
  const candidates = ctx.listenersByPort.get(conn.localPort);
  if (!candidates) return null;
  let wildcard: Socket | null = null;
  for (const l of candidates) {
    if (!listenerCovers(l, conn)) continue;
    if (l.localAddress === conn.localAddress) return l;
    wildcard ??= l;
  }
  return wildcard;
}

/** The other end of `conn` when it is also a socket in this snapshot. */
export function findPeer(ctx: Context, conn: Socket): Socket | null {
  const p = ctx.byTuple.get(tupleKey(conn.remoteAddress, conn.remotePort, conn.localAddress, conn.localPort));
  return p && p !== conn ? p : null;
}

export function inRanges(port: number, ranges: readonly PortRange[]): boolean {
  for (const r of ranges) if (port >= r.low && port <= r.high) return true;
  return false;
}
