import { findPeer, type Context } from '../classifier';
import { isLoopback, unmapIPv4, type ContainerRef, type NetnsInfo, type PortRange, type Snapshot, type Socket, type SourceName } from '../model';
import { InputError } from './errors';

/** A network namespace as the API shows it. */
export interface NetnsRecord {
  id: string;
  name: string | null;
  pids: number[];
  container: ContainerRef | null;
  ephemeralPortRange: PortRange | null;
  ephemeralPortRangeAssumed: boolean;
  reservedPorts: PortRange[];
  source: SourceName | 'none';
  reason: string | null;
  self: boolean;
  /** When its sockets were read; null when they were not. */
  readAt: Date | null;
  socketCount: number;
  connectionCount: number;
  listenerCount: number;
  /** Connections paired with their other end in another namespace of this host. */
  crossNamespacePaired: number;
  /**
   * Connections whose remote address is a local address of some namespace on this host, yet no
   * peer socket matches the tuple: host NAT (DNAT, a service mesh) rewrote it, or the other end
   * lives where tcpdir cannot see.
   */
  unpairedLocalRemote: number;
}

/** The namespace a socket lives in: its own tag, else the snapshot's (single-namespace) one. */
export function socketNetns(snapshot: Snapshot, s: Socket): string | null {
  return s.netns ?? snapshot.host.netns;
}

/** The namespaces a snapshot covers; a single-namespace snapshot is one entry built from `host`. */
export function netnsInfos(snapshot: Snapshot): NetnsInfo[] {
  if (snapshot.namespaces && snapshot.namespaces.length > 0) return snapshot.namespaces;
  const id = snapshot.host.netns ?? 'unknown';
  return [{ id, name: null, pids: [process.pid], container: null, host: snapshot.host, source: snapshot.source, reason: snapshot.fallbackReason, self: true, readAt: snapshot.collectedAt }];
}

const idCache = new WeakMap<Snapshot, Map<string, string>>();

/**
 * The namespace id a `netns` argument names: an nsfs id ("net:[4026532177]") or a /run/netns
 * name. Null when no filter was given; an InputError listing the known ones when it names none.
 */
export function netnsIdFor(snapshot: Snapshot, value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  let ids = idCache.get(snapshot);
  if (!ids) {
    ids = new Map();
    for (const ns of netnsInfos(snapshot)) {
      ids.set(ns.id, ns.id);
      if (ns.name !== null && !ids.has(ns.name)) ids.set(ns.name, ns.id);
    }
    idCache.set(snapshot, ids);
  }
  const id = ids.get(value);
  if (id === undefined) {
    const known = [...ids.keys()].slice(0, 20).join(', ');
    throw new InputError('netns', `netns ${JSON.stringify(value.slice(0, 80))} is neither the id nor the name of a namespace in this snapshot; known: ${known}`);
  }
  return id;
}

const recordCache = new WeakMap<Snapshot, NetnsRecord[]>();

/** Per-namespace counts and pairing figures, computed once per snapshot. */
export function netnsRecords(snapshot: Snapshot, ctx: Context): NetnsRecord[] {
  const hit = recordCache.get(snapshot);
  if (hit) return hit;
  const infos = netnsInfos(snapshot);
  const byId = new Map<string, NetnsRecord>();
  const out = infos.map((ns): NetnsRecord => {
    const r: NetnsRecord = {
      id: ns.id, name: ns.name, pids: ns.pids, container: ns.container,
      ephemeralPortRange: ns.host.ephemeralPortRange, ephemeralPortRangeAssumed: ns.host.ephemeralPortRangeAssumed === true,
      reservedPorts: ns.host.reservedPorts, source: ns.source, reason: ns.reason, self: ns.self,
      readAt: ns.readAt === undefined ? null : new Date(ns.readAt),
      socketCount: 0, connectionCount: 0, listenerCount: 0, crossNamespacePaired: 0, unpairedLocalRemote: 0,
    };
    byId.set(ns.id, r);
    return r;
  });
  // Local addresses held by any namespace (from its sockets: wildcards and loopback excluded,
  // those say nothing about which host a remote address is).
  const local = new Set<string>();
  for (const s of snapshot.sockets) {
    const a = unmapIPv4(s.localAddress);
    if (a !== '0.0.0.0' && a !== '::' && !isLoopback(a)) local.add(a);
  }
  const multi = infos.length > 1;
  for (const s of snapshot.sockets) {
    const r = byId.get(socketNetns(snapshot, s) ?? '');
    if (!r) continue;
    r.socketCount++;
    if (s.state === 'LISTEN') r.listenerCount++;
  }
  for (let i = 0; i < ctx.conns.length; i++) {
    const c = ctx.conns[i];
    const r = byId.get(socketNetns(snapshot, c) ?? '');
    if (!r) continue;
    r.connectionCount++;
    const remote = unmapIPv4(c.remoteAddress);
    if (isLoopback(remote) || c.state === 'LISTEN') continue;
    const p = findPeer(ctx, c);
    if (p) {
      if (multi && p.netns !== c.netns) r.crossNamespacePaired++;
    } else if (local.has(remote)) {
      r.unpairedLocalRemote++;
    }
  }
  recordCache.set(snapshot, out);
  return out;
}

const containerCache = new WeakMap<Snapshot, Map<string, ContainerRef>>();

/** The container a namespace's processes run in (from cgroups), null when none or unknown. */
export function containerOfNetns(snapshot: Snapshot, netns: string | null): ContainerRef | null {
  if (netns === null) return null;
  let m = containerCache.get(snapshot);
  if (!m) {
    m = new Map();
    for (const ns of netnsInfos(snapshot)) if (ns.container) m.set(ns.id, ns.container);
    containerCache.set(snapshot, m);
  }
  return m.get(netns) ?? null;
}
