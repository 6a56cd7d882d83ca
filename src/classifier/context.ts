import { unmapIPv4, type PortRange, type Snapshot, type Socket } from '../model';

/** Indexes over one snapshot, built once and shared by every rule. */
export interface Context {
  snapshot: Snapshot;
  /** LISTEN sockets by local port. */
  listenersByPort: Map<number, Socket[]>;
  /** Non-LISTEN sockets by local endpoint number (see endpointOf). */
  byLocalEndpoint: Map<number, Socket[]>;
  /** Every non-LISTEN socket, in snapshot order: the connections to classify. */
  conns: Socket[];
  /** Index into `conns` by local endpoint number, then remote endpoint number. */
  byTuple: Map<number, Map<number, number>>;
  /** Address text (mapped or not) -> small id; `::ffff:a.b.c.d` and `a.b.c.d` share one. */
  addressIds: Map<string, number>;
  ephemeral: PortRange | null;
  reserved: PortRange[];
}

// Endpoints are numbered `addressId * 65536 + port` rather than keyed by concatenated strings:
// with 100k sockets, building and hashing string keys cost more than all the rules together.
function addressId(ids: Map<string, number>, address: string): number {
  let id = ids.get(address);
  if (id === undefined) {
    const plain = unmapIPv4(address);
    id = plain === address ? ids.size : (ids.get(plain) ?? ids.size);
    ids.set(address, id);
    if (plain !== address && !ids.has(plain)) ids.set(plain, id);
  }
  return id;
}

export function endpointOf(ctx: Pick<Context, 'addressIds'>, address: string, port: number): number {
  return addressId(ctx.addressIds, address) * 65536 + port;
}

/** Like endpointOf, but never adds an address: -1 when no socket has this address. */
export function lookupEndpoint(ctx: Pick<Context, 'addressIds'>, address: string, port: number): number {
  const id = ctx.addressIds.get(address) ?? ctx.addressIds.get(unmapIPv4(address));
  return id === undefined ? -1 : id * 65536 + port;
}

/** The connection with this 4-tuple (IPv4 and IPv4-mapped text are interchangeable), or null. */
export function findByTuple(ctx: Context, la: string, lp: number, ra: string, rp: number): Socket | null {
  const l = lookupEndpoint(ctx, la, lp);
  const r = lookupEndpoint(ctx, ra, rp);
  if (l < 0 || r < 0) return null;
  const i = ctx.byTuple.get(l)?.get(r);
  return i === undefined ? null : ctx.conns[i];
}

export function buildContext(snapshot: Snapshot): Context {
  const listenersByPort = new Map<number, Socket[]>();
  const byLocalEndpoint = new Map<number, Socket[]>();
  const byTuple = new Map<number, Map<number, number>>();
  const conns: Socket[] = [];
  const addressIds = new Map<string, number>();
  for (const s of snapshot.sockets) {
    if (s.state === 'LISTEN') {
      const list = listenersByPort.get(s.localPort);
      if (list) list.push(s);
      else listenersByPort.set(s.localPort, [s]);
      continue;
    }
    const local = addressId(addressIds, s.localAddress) * 65536 + s.localPort;
    const remote = addressId(addressIds, s.remoteAddress) * 65536 + s.remotePort;
    const same = byLocalEndpoint.get(local);
    if (same) same.push(s);
    else byLocalEndpoint.set(local, [s]);
    const peers = byTuple.get(local);
    if (peers) peers.set(remote, conns.length);
    else byTuple.set(local, new Map([[remote, conns.length]]));
    conns.push(s);
  }
  return {
    snapshot,
    listenersByPort,
    byLocalEndpoint,
    conns,
    byTuple,
    addressIds,
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

/** Index in `ctx.conns` of the other end of `conn` when it is also in this snapshot, else -1. */
export function findPeerIndex(ctx: Context, conn: Socket): number {
  const i = ctx.byTuple.get(endpointOf(ctx, conn.remoteAddress, conn.remotePort))?.get(endpointOf(ctx, conn.localAddress, conn.localPort));
  return i === undefined || ctx.conns[i] === conn ? -1 : i;
}

/** The other end of `conn` when it is also a socket in this snapshot. */
export function findPeer(ctx: Context, conn: Socket): Socket | null {
  const i = findPeerIndex(ctx, conn);
  return i < 0 ? null : ctx.conns[i];
}

export function inRanges(port: number, ranges: readonly PortRange[]): boolean {
  for (const r of ranges) if (port >= r.low && port <= r.high) return true;
  return false;
}
