import { isLoopback, unmapIPv4, type HostFacts, type PortRange, type Snapshot, type Socket } from '../model';

/**
 * Indexes over one snapshot, built once and shared by every rule. What only some connections need
 * is built on first use, and only for the local ports asked about: with kernel evidence most
 * connections are settled before any rule runs, and the few left (say, TIME_WAIT sockets of a
 * closed listener) should not cost an index over every connection of the host.
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
  /** See portBuckets(); null until first needed. */
  ports: PortBuckets | null;
  /** Local ports of the history's past listeners (see pastListenerPorts); null until first needed. */
  pastPorts: Set<number> | null;
  /** Ports of the listeners seen since the service started (see seenListenerPorts); null until first needed. */
  seenPorts: Set<number> | null;
}

/**
 * The connections grouped by local port (a counting sort): every question asked of the endpoint
 * indexes (who shares this local endpoint, which socket has this 4-tuple, where is the other end)
 * concerns one local port, so it is answered from that port's group alone.
 */
export interface PortBuckets {
  /** Connections with local port p are order[start[p]] .. order[start[p + 1] - 1], in snapshot order. */
  start: Int32Array;
  /** Indexes into `conns`. */
  order: Int32Array;
  /** Tables of the ports with more than SCAN_MAX connections, built on first use. */
  tables: Map<number, PortTable>;
}

/** Endpoint indexes over the connections of one local port (see portTable). */
export interface PortTable {
  /** (local address id, namespace index) -> its connections; a lone one as its index in `conns`. */
  byLocal: Map<number, number | Socket[]>;
  /** ((local address id, namespace index), (remote address id, remote port)) -> index in `conns`; -2 when held more than once. */
  byTuple: TupleIndex;
  /**
   * Across namespaces, non-loopback connections only: (local address id, remote endpoint) ->
   * index, or -2 when several hold the tuple (then nothing is paired). Null for one namespace.
   */
  cross: TupleIndex | null;
}

// A port group this small is scanned; a bigger one gets a PortTable. Most local ports hold one
// connection (clients' ephemeral ports); servers' ports hold thousands.
const SCAN_MAX = 16;

// Keys are numbers (`id * 65536 + port or namespace`) rather than concatenated strings: with 100k
// sockets, building and hashing string keys cost more than all the rules together.
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

/** The id of an address some indexed socket has, or -1 (never adds one). */
function knownAddressId(ids: Map<string, number>, address: string): number {
  return ids.get(address) ?? ids.get(unmapIPv4(address)) ?? -1;
}

/** The same address, IPv4 and IPv4-mapped text being interchangeable. */
function sameAddress(a: string, b: string): boolean {
  // Only a text starting with ':' can be IPv4-mapped: two that do not and differ are different.
  return a === b || ((a.charCodeAt(0) === 58 || b.charCodeAt(0) === 58) && unmapIPv4(a) === unmapIPv4(b));
}

function nsOf(ctx: Pick<Context, 'nsIndex'>, s: Socket): number {
  return ctx.nsIndex.get(s.netns) ?? 0;
}

/** Host facts (port range, reserved ports) of the namespace `conn` lives in. */
export function hostOf(ctx: Context, conn: Socket): HostFacts {
  return ctx.hosts[nsOf(ctx, conn)];
}

/** The port groups of `ctx`, built on the first call. */
export function portBuckets(ctx: Context): PortBuckets {
  if (ctx.ports) return ctx.ports;
  const conns = ctx.conns;
  const start = new Int32Array(65537);
  for (let i = 0; i < conns.length; i++) start[conns[i].localPort + 1]++;
  for (let p = 1; p <= 65536; p++) start[p] += start[p - 1];
  const next = start.slice(0, 65536);
  const order = new Int32Array(conns.length);
  for (let i = 0; i < conns.length; i++) order[next[conns[i].localPort]++] = i;
  return (ctx.ports = { start, order, tables: new Map() });
}

/** The table of local port `port`, or null when its group is small enough to scan. */
function portTable(ctx: Context, port: number): PortTable | null {
  const b = portBuckets(ctx);
  const lo = b.start[port], hi = b.start[port + 1];
  if (hi - lo <= SCAN_MAX) return null;
  let t = b.tables.get(port);
  if (!t) b.tables.set(port, (t = buildPortTable(ctx, b.order.subarray(lo, hi))));
  return t;
}

function buildPortTable(ctx: Context, group: Int32Array): PortTable {
  const { conns, addressIds } = ctx;
  const multi = ctx.hosts.length > 1;
  const byLocal = new Map<number, number | Socket[]>();
  const byTuple = new TupleIndex(group.length);
  const cross = multi ? new TupleIndex(group.length) : null;
  // Address ids of the previous socket: consecutive sockets mostly share addresses (a dump lists
  // a host's connections together), so most lookups are a pointer compare, not a Map probe.
  let lastLa = '', lastLid = -1, lastRa = '', lastRid = -1;
  for (let k = 0; k < group.length; k++) {
    const i = group[k], s = conns[i];
    if (s.localAddress !== lastLa) (lastLa = s.localAddress), (lastLid = addressId(addressIds, lastLa));
    if (s.remoteAddress !== lastRa) (lastRa = s.remoteAddress), (lastRid = addressId(addressIds, lastRa));
    const local = lastLid * 65536 + (multi ? nsOf(ctx, s) : 0);
    const remote = lastRid * 65536 + s.remotePort;
    const cur = byLocal.get(local);
    if (cur === undefined) byLocal.set(local, i);
    else if (typeof cur === 'number') byLocal.set(local, [conns[cur], s]);
    else cur.push(s);
    byTuple.add(local, remote, i);
    if (cross && !isLoopback(s.localAddress) && !isLoopback(s.remoteAddress)) cross.add(lastLid, remote, i);
  }
  return { byLocal, byTuple, cross };
}

/** Connections on the same local address and port, in the same namespace (`conn` among them). */
export function sharersOf(ctx: Context, conn: Socket): Socket[] | undefined {
  const t = portTable(ctx, conn.localPort);
  if (t) {
    const v = tableSharers(ctx, t, conn);
    return typeof v === 'number' ? [ctx.conns[v]] : v;
  }
  const out: Socket[] = [];
  const { start, order } = portBuckets(ctx);
  for (let k = start[conn.localPort]; k < start[conn.localPort + 1]; k++) {
    const s = ctx.conns[order[k]];
    if (sameLocal(ctx, s, conn)) out.push(s);
  }
  return out.length > 0 ? out : undefined;
}

/** How many connections share `conn`'s local endpoint (sharersOf(...).length, without a list). */
export function sharerCount(ctx: Context, conn: Socket): number {
  const t = portTable(ctx, conn.localPort);
  if (t) {
    const v = tableSharers(ctx, t, conn);
    return v === undefined ? 0 : typeof v === 'number' ? 1 : v.length;
  }
  let n = 0;
  const { start, order } = portBuckets(ctx);
  for (let k = start[conn.localPort]; k < start[conn.localPort + 1]; k++) if (sameLocal(ctx, ctx.conns[order[k]], conn)) n++;
  return n;
}

// Servers with thousands of children would make a per-connection scan quadratic: decide once per
// group (a table's lists are kept for the context's life).
const mixedMemo = new WeakMap<readonly Socket[], boolean>();

/** Do the connections sharing `conn`'s local endpoint talk to more than one remote port? */
export function sharersMixRemotePorts(ctx: Context, conn: Socket): boolean {
  const t = portTable(ctx, conn.localPort);
  if (t) {
    const v = tableSharers(ctx, t, conn);
    if (v === undefined || typeof v === 'number') return false;
    let mixed = mixedMemo.get(v);
    if (mixed === undefined) mixedMemo.set(v, (mixed = v.some((s) => s.remotePort !== v[0].remotePort)));
    return mixed;
  }
  const { start, order } = portBuckets(ctx);
  let first = -1;
  for (let k = start[conn.localPort]; k < start[conn.localPort + 1]; k++) {
    const s = ctx.conns[order[k]];
    if (!sameLocal(ctx, s, conn)) continue;
    if (first === -1) first = s.remotePort;
    else if (s.remotePort !== first) return true;
  }
  return false;
}

function tableSharers(ctx: Context, t: PortTable, conn: Socket): number | Socket[] | undefined {
  const id = knownAddressId(ctx.addressIds, conn.localAddress);
  return id < 0 ? undefined : t.byLocal.get(id * 65536 + (ctx.hosts.length > 1 ? nsOf(ctx, conn) : 0));
}

/** Same local address (the port is the group's) and namespace. */
function sameLocal(ctx: Context, s: Socket, conn: Socket): boolean {
  return sameAddress(s.localAddress, conn.localAddress) && (ctx.hosts.length === 1 || nsOf(ctx, s) === nsOf(ctx, conn));
}

/**
 * Index in `conns` of the connection with this 4-tuple in namespace index `ns` (-2 when several
 * hold it, -1 when none), and with `anyNs` of the one non-loopback connection holding it in any
 * namespace (-2 when several do).
 */
function tupleIndex(ctx: Context, la: string, lp: number, ra: string, rp: number, ns: number, anyNs = false): number {
  const t = portTable(ctx, lp);
  if (t) {
    const l = knownAddressId(ctx.addressIds, la), r = knownAddressId(ctx.addressIds, ra);
    if (l < 0 || r < 0) return -1;
    const i = anyNs ? t.cross?.get(l, r * 65536 + rp) : t.byTuple.get(l * 65536 + (ctx.hosts.length > 1 ? ns : 0), r * 65536 + rp);
    return i ?? -1;
  }
  const { start, order } = portBuckets(ctx);
  let found = -1;
  for (let k = start[lp]; k < start[lp + 1]; k++) {
    const s = ctx.conns[order[k]];
    if (s.remotePort !== rp || !sameAddress(s.localAddress, la) || !sameAddress(s.remoteAddress, ra)) continue;
    if (anyNs ? isLoopback(s.localAddress) || isLoopback(s.remoteAddress) : ctx.hosts.length > 1 && nsOf(ctx, s) !== ns) continue;
    if (found !== -1) return -2;
    found = order[k];
  }
  return found;
}

/** The connection with this 4-tuple (IPv4 and IPv4-mapped text are interchangeable), or null. */
export function findByTuple(ctx: Context, la: string, lp: number, ra: string, rp: number, netns?: string | null): Socket | null {
  for (const [ns, n] of ctx.nsIndex) {
    if (netns !== undefined && ns !== netns) continue;
    const i = tupleIndex(ctx, la, lp, ra, rp, n);
    if (i >= 0) return ctx.conns[i];
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
  return { snapshot, listenersByPort, conns, socketIndex, nsIndex, addressIds: new Map(), hosts, ports: null, pastPorts: null, seenPorts: null };
}

/**
 * The ports some past listener of the snapshot's history was on: most connections' local ports
 * (clients' ephemeral ones) are not, and are answered without building a key to look up.
 */
export function pastListenerPorts(ctx: Context): Set<number> {
  if (ctx.pastPorts === null) {
    const ports = new Set<number>();
    for (const l of ctx.snapshot.history?.pastListeners.values() ?? []) ports.add(l.port);
    ctx.pastPorts = ports;
  }
  return ctx.pastPorts;
}

/**
 * The ports of every listener seen since the service started: most connections' local ports are
 * not among them, and are answered without building a key to look up.
 */
export function seenListenerPorts(ctx: Context): Set<number> {
  if (ctx.seenPorts === null) {
    const ports = new Set<number>();
    for (const key of ctx.snapshot.history?.listenersSeen ?? []) ports.add(Number(key.slice(key.lastIndexOf('|') + 1)));
    ctx.seenPorts = ports;
  }
  return ctx.seenPorts;
}

/**
 * Would a listener accept a connection arriving at `conn`'s local endpoint? Same port, and the
 * same address or its family's wildcard. Children keep their listener's family: an AF_INET
 * connection is never the child of an IPv6 listener, while an IPv4-mapped AF_INET6 connection
 * is the child of a dual-stack `::` listener (not of a V6ONLY one).
 */
export function listenerCovers(l: Pick<Socket, 'family' | 'localAddress' | 'localPort' | 'v6only'>, conn: Pick<Socket, 'family' | 'localAddress' | 'localPort'>): boolean {
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
  const { localAddress: la, localPort: lp, remoteAddress: ra, remotePort: rp } = conn;
  const i = tupleIndex(ctx, ra, rp, la, lp, nsOf(ctx, conn));
  if (i >= 0) return ctx.conns[i] === conn ? -1 : i;
  if (ctx.hosts.length === 1) return -1;
  const j = tupleIndex(ctx, ra, rp, la, lp, 0, true);
  return j < 0 || ctx.conns[j].netns === conn.netns ? -1 : j;
}

/** findPeerIndex for `ctx.conns[i]`. */
export function findPeerIndexAt(ctx: Context, i: number): number {
  return findPeerIndex(ctx, ctx.conns[i]);
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
