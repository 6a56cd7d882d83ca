import { isLoopback, unmapIPv4, type HostFacts, type PortRange, type Snapshot, type Socket } from '../model';

/**
 * Indexes over one snapshot, built once and shared by every rule. The endpoint tables are built
 * on first use: with kernel evidence most connections are settled before any rule needs them.
 */
export interface Context {
  snapshot: Snapshot;
  /** LISTEN sockets by local port (every namespace; findListener keeps the connection's own). */
  listenersByPort: Map<number, Socket[]>;
  /** Every non-LISTEN socket, in snapshot order: the connections to classify. */
  conns: Socket[];
  /** Per conn: its position in snapshot.sockets. */
  socketIndex: Int32Array;
  /** Namespace id (null = the snapshot's own) -> index into the per-namespace tables. */
  nsIndex: Map<string | null, number>;
  /** Address text (mapped or not) -> small id; `::ffff:a.b.c.d` and `a.b.c.d` share one. */
  addressIds: Map<string, number>;
  /** Host facts by namespace index. */
  hosts: HostFacts[];
  /** See endpointTables(); null until first needed. */
  endpoints: EndpointTables | null;
}

/** Endpoint indexes over `conns` (see endpointTables). */
export interface EndpointTables {
  /** Per conn (same index as `conns`): local and remote endpoint numbers (see endpointOf). */
  localEp: Float64Array;
  remoteEp: Float64Array;
  /**
   * Per namespace (index from nsIndex): non-LISTEN sockets by local endpoint number. A lone
   * socket is stored as its index in `conns` (no array for it).
   */
  byLocal: Map<number, number | Socket[]>[];
  /** Per namespace: index into `conns` by (local endpoint, remote endpoint); -2 when held more than once. */
  byTuple: TupleIndex[];
  /**
   * Across namespaces, for non-loopback endpoints only: the same as byTuple, or -2 when several
   * namespaces hold the tuple (then nothing is paired). Empty for a single-namespace snapshot.
   */
  crossTuple: TupleIndex;
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
  const v = endpointTables(ctx).byLocal[nsOf(ctx, conn)].get(endpointOf(ctx, conn.localAddress, conn.localPort));
  return typeof v === 'number' ? [ctx.conns[v]] : v;
}

/** How many connections share `conn`'s local endpoint (sharersOf(...).length, without a list). */
export function sharerCount(ctx: Context, conn: Socket): number {
  const v = endpointTables(ctx).byLocal[nsOf(ctx, conn)].get(endpointOf(ctx, conn.localAddress, conn.localPort));
  return v === undefined ? 0 : typeof v === 'number' ? 1 : v.length;
}

/** The connection with this 4-tuple (IPv4 and IPv4-mapped text are interchangeable), or null. */
export function findByTuple(ctx: Context, la: string, lp: number, ra: string, rp: number, netns?: string | null): Socket | null {
  const t = endpointTables(ctx); // first: it is what gives the addresses their ids
  const l = lookupEndpoint(ctx, la, lp);
  const r = lookupEndpoint(ctx, ra, rp);
  if (l < 0 || r < 0) return null;
  for (const [ns, n] of ctx.nsIndex) {
    if (netns !== undefined && ns !== netns) continue;
    const i = t.byTuple[n].get(l, r);
    if (i !== undefined && i >= 0) return ctx.conns[i];
  }
  return null;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}

/**
 * (local endpoint, remote endpoint) -> index, as an open-addressing hash table over typed arrays.
 * A Map keyed by one Number per tuple would need keys beyond 2^31, which V8 hashes slowly (heap
 * numbers), and nested Maps cost two probes, one into a listener's Map of thousands of peers.
 */
export class TupleIndex {
  // Slot k holds [local, remote, index] at 3k..3k+2, in one array so a probe touches one cache
  // line. index -1: empty; -2: tuple held more than once.
  private readonly slots: Float64Array;
  private readonly mask: number;
  size = 0;

  constructor(capacity: number) {
    let n = 16;
    while (n < capacity * 2) n *= 2; // load factor <= 1/2: short probe runs
    this.slots = new Float64Array(n * 3);
    for (let k = 2; k < this.slots.length; k += 3) this.slots[k] = -1;
    this.mask = n - 1;
  }

  /** Offset of the slot holding the tuple, or of the empty slot where it would go. */
  private find(local: number, remote: number): number {
    const h = Math.imul((local | 0) ^ ((local / 4294967296) | 0), 0x9e3779b1) ^ Math.imul((remote | 0) ^ ((remote / 4294967296) | 0), 0x85ebca6b);
    const slots = this.slots;
    let k = (h ^ (h >>> 15)) & this.mask;
    for (;;) {
      const o = k * 3;
      if (slots[o + 2] === -1 || (slots[o] === local && slots[o + 1] === remote)) return o;
      k = (k + 1) & this.mask;
    }
  }

  /** Adds a tuple; one already there becomes -2 (ambiguous). */
  add(local: number, remote: number, index: number): void {
    const o = this.find(local, remote);
    if (this.slots[o + 2] === -1) {
      this.slots[o] = local;
      this.slots[o + 1] = remote;
      this.slots[o + 2] = index;
      this.size++;
    } else this.slots[o + 2] = -2;
  }

  /** The index, -2 for an ambiguous tuple, undefined for none. */
  get(local: number, remote: number): number | undefined {
    const v = this.slots[this.find(local, remote) + 2];
    return v === -1 ? undefined : v;
  }
}

export function buildContext(snapshot: Snapshot): Context {
  const nsIndex = new Map<string | null, number>([[null, 0]]);
  const hosts: HostFacts[] = [snapshot.host];
  for (const ns of snapshot.namespaces ?? []) {
    nsIndex.set(ns.id, hosts.length);
    hosts.push(ns.host);
  }
  const listenersByPort = new Map<number, Socket[]>();
  const conns: Socket[] = [];
  const all = snapshot.sockets;
  const at = new Int32Array(all.length);
  for (let k = 0; k < all.length; k++) {
    const s = all[k];
    if (s.state === 'LISTEN') push(listenersByPort, s.localPort, s);
    else at[conns.push(s) - 1] = k;
  }
  const socketIndex = at.subarray(0, conns.length);
  return { snapshot, listenersByPort, conns, socketIndex, nsIndex, addressIds: new Map(), hosts, endpoints: null };
}

/** The endpoint tables of `ctx`, built on the first call. */
export function endpointTables(ctx: Context): EndpointTables {
  return (ctx.endpoints ??= buildEndpointTables(ctx));
}

function buildEndpointTables(ctx: Context): EndpointTables {
  const { conns, hosts, nsIndex, addressIds } = ctx;
  const multi = hosts.length > 1;
  const byLocal = hosts.map(() => new Map<number, number | Socket[]>());
  const localEp = new Float64Array(conns.length);
  const remoteEp = new Float64Array(conns.length);
  const connNs = new Uint16Array(conns.length);
  const perNs = new Int32Array(hosts.length);
  // Address ids of the previous socket: consecutive sockets mostly share addresses (a dump lists
  // a host's connections together), so most lookups are a pointer compare, not a Map probe.
  let lastLa = '', lastLid = -1, lastRa = '', lastRid = -1;
  for (let i = 0; i < conns.length; i++) {
    const s = conns[i];
    const ns = multi ? (nsIndex.get(s.netns) ?? 0) : 0;
    if (s.localAddress !== lastLa) (lastLa = s.localAddress), (lastLid = addressId(addressIds, lastLa));
    if (s.remoteAddress !== lastRa) (lastRa = s.remoteAddress), (lastRid = addressId(addressIds, lastRa));
    localEp[i] = lastLid * 65536 + s.localPort;
    remoteEp[i] = lastRid * 65536 + s.remotePort;
    connNs[i] = ns;
    perNs[ns]++;
  }
  // Sized up front (tables do not grow): connections per namespace.
  const byTuple = hosts.map((_, n) => new TupleIndex(perNs[n]));
  const crossTuple = new TupleIndex(multi ? conns.length : 0);
  for (let i = 0; i < conns.length; i++) {
    const s = conns[i], local = localEp[i], ns = connNs[i];
    const byL = byLocal[ns];
    const cur = byL.get(local);
    if (cur === undefined) byL.set(local, i);
    else if (typeof cur === 'number') byL.set(local, [conns[cur], s]);
    else cur.push(s);
    byTuple[ns].add(local, remoteEp[i], i);
    if (multi && !isLoopback(s.localAddress) && !isLoopback(s.remoteAddress)) crossTuple.add(local, remoteEp[i], i);
  }
  return { localEp, remoteEp, byLocal, byTuple, crossTuple };
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
  return peerIndexOf(ctx, conn, endpointOf(ctx, conn.remoteAddress, conn.remotePort), endpointOf(ctx, conn.localAddress, conn.localPort));
}

/** findPeerIndex for `ctx.conns[i]`, from the endpoint numbers buildContext already computed. */
export function findPeerIndexAt(ctx: Context, i: number): number {
  const t = endpointTables(ctx);
  return peerIndexOf(ctx, ctx.conns[i], t.remoteEp[i], t.localEp[i]);
}

function peerIndexOf(ctx: Context, conn: Socket, mirrorLocal: number, mirrorRemote: number): number {
  const t = endpointTables(ctx);
  const i = t.byTuple[nsOf(ctx, conn)].get(mirrorLocal, mirrorRemote);
  if (i !== undefined && i >= 0) return ctx.conns[i] === conn ? -1 : i;
  if (t.crossTuple.size === 0) return -1;
  const j = t.crossTuple.get(mirrorLocal, mirrorRemote);
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
