import { isLoopback, unmapIPv4, type HostFacts, type PortRange, type Snapshot, type Socket } from '../model';

/** Indexes over one snapshot, built once and shared by every rule. */
export interface Context {
  snapshot: Snapshot;
  /** LISTEN sockets by local port (every namespace; findListener keeps the connection's own). */
  listenersByPort: Map<number, Socket[]>;
  /** Every non-LISTEN socket, in snapshot order: the connections to classify. */
  conns: Socket[];
  /** Per namespace (index from nsIndex): non-LISTEN sockets by local endpoint number. */
  byLocalEndpoint: Map<number, Socket[]>[];
  /** Per namespace: index into `conns` by local endpoint number, then remote endpoint number. */
  byTuple: Map<number, Map<number, number>>[];
  /**
   * Across namespaces, for non-loopback endpoints only: the same as byTuple, or -2 when several
   * namespaces hold the tuple (then nothing is paired). Empty for a single-namespace snapshot.
   */
  crossTuple: Map<number, Map<number, number>>;
  /** Namespace id (null = the snapshot's own) -> index into the per-namespace tables. */
  nsIndex: Map<string | null, number>;
  /** Address text (mapped or not) -> small id; `::ffff:a.b.c.d` and `a.b.c.d` share one. */
  addressIds: Map<string, number>;
  /** Host facts by namespace index. */
  hosts: HostFacts[];
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

function nsOf(ctx: Pick<Context, 'nsIndex'>, s: Socket): number {
  return ctx.nsIndex.get(s.netns) ?? 0;
}

/** Host facts (port range, reserved ports) of the namespace `conn` lives in. */
export function hostOf(ctx: Context, conn: Socket): HostFacts {
  return ctx.hosts[nsOf(ctx, conn)];
}

/** Connections on the same local address and port, in the same namespace. */
export function sharersOf(ctx: Context, conn: Socket): Socket[] | undefined {
  return ctx.byLocalEndpoint[nsOf(ctx, conn)].get(endpointOf(ctx, conn.localAddress, conn.localPort));
}

/** The connection with this 4-tuple (IPv4 and IPv4-mapped text are interchangeable), or null. */
export function findByTuple(ctx: Context, la: string, lp: number, ra: string, rp: number, netns?: string | null): Socket | null {
  const l = lookupEndpoint(ctx, la, lp);
  const r = lookupEndpoint(ctx, ra, rp);
  if (l < 0 || r < 0) return null;
  for (const [ns, n] of ctx.nsIndex) {
    if (netns !== undefined && ns !== netns) continue;
    const i = ctx.byTuple[n].get(l)?.get(r);
    if (i !== undefined) return ctx.conns[i];
  }
  return null;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}

function setTuple(m: Map<number, Map<number, number>>, local: number, remote: number, i: number): void {
  const peers = m.get(local);
  if (!peers) m.set(local, new Map([[remote, i]]));
  else peers.set(remote, peers.has(remote) ? -2 : i);
}

export function buildContext(snapshot: Snapshot): Context {
  const nsIndex = new Map<string | null, number>([[null, 0]]);
  const hosts: HostFacts[] = [snapshot.host];
  for (const ns of snapshot.namespaces ?? []) {
    nsIndex.set(ns.id, hosts.length);
    hosts.push(ns.host);
  }
  const multi = hosts.length > 1;
  const listenersByPort = new Map<number, Socket[]>();
  const byLocalEndpoint = hosts.map(() => new Map<number, Socket[]>());
  const byTuple = hosts.map(() => new Map<number, Map<number, number>>());
  const crossTuple = new Map<number, Map<number, number>>();
  const addressIds = new Map<string, number>();
  const conns: Socket[] = [];
  for (const s of snapshot.sockets) {
    if (s.state === 'LISTEN') {
      push(listenersByPort, s.localPort, s);
      continue;
    }
    const ns = multi ? (nsIndex.get(s.netns) ?? 0) : 0;
    const local = addressId(addressIds, s.localAddress) * 65536 + s.localPort;
    const remote = addressId(addressIds, s.remoteAddress) * 65536 + s.remotePort;
    push(byLocalEndpoint[ns], local, s);
    setTuple(byTuple[ns], local, remote, conns.length);
    if (multi && !isLoopback(s.localAddress) && !isLoopback(s.remoteAddress)) setTuple(crossTuple, local, remote, conns.length);
    conns.push(s);
  }
  return { snapshot, listenersByPort, conns, byLocalEndpoint, byTuple, crossTuple, nsIndex, addressIds, hosts };
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
    if (l.netns !== conn.netns || !listenerCovers(l, conn)) continue;
    if (l.localAddress === conn.localAddress) return l;
    wildcard ??= l;
  }
  return wildcard;
}

/**
 * Index in `ctx.conns` of the other end of `conn` when it is also in this snapshot, else -1:
 * first in the same namespace, then (for non-loopback addresses) in exactly one other namespace
 * of the host, e.g. a container talking to the host or to another container over a veth.
 */
export function findPeerIndex(ctx: Context, conn: Socket): number {
  const mirrorLocal = endpointOf(ctx, conn.remoteAddress, conn.remotePort);
  const mirrorRemote = endpointOf(ctx, conn.localAddress, conn.localPort);
  const i = ctx.byTuple[nsOf(ctx, conn)].get(mirrorLocal)?.get(mirrorRemote);
  if (i !== undefined && i >= 0) return ctx.conns[i] === conn ? -1 : i;
  if (ctx.crossTuple.size === 0) return -1;
  const j = ctx.crossTuple.get(mirrorLocal)?.get(mirrorRemote);
  return j === undefined || j < 0 || ctx.conns[j].netns === conn.netns ? -1 : j;
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

export type RangePlace = 'inside' | 'outside' | 'reserved';

/** Where `conn`'s local port sits in its namespace's ephemeral range; null when the range is unknown. */
export function ephemeralPlace(ctx: Context, conn: Socket): RangePlace | null {
  const h = hostOf(ctx, conn);
  const r = h.ephemeralPortRange;
  if (!r) return null;
  const p = conn.localPort;
  if (p < r.low || p > r.high) return 'outside';
  return inRanges(p, h.reservedPorts) ? 'reserved' : 'inside';
}
