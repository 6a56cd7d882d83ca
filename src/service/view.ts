import { birthDirection, buildContext, classify, directionOfFacts, findByTuple, findListener, findPeer, kernelFinding, type Classification, type Context } from '../classifier';
import { TCP_STATE_NAMES, type Direction, type Snapshot, type Socket, type SourceName, type TcpStateName, type Verdict } from '../model';
import { addressKey, addressRange, type AddressRange } from '../history/cidr';
import { orderComparator, type ConnectionOrdering } from './connection-order';
import { netnsIdFor } from './netns-view';
import { InputError } from './errors';
import { connectionRecord, listenerRecord, type ConnectionRecord, type ListenerRecord } from './records';

export interface KernelFactsRecord {
  direction: Direction;
  rule: string | null;
  bornAs: Direction | null;
  birthTransition: string | null;
  portChosenByConnect: boolean;
  explicitPortBind: boolean;
  explicitAddressBind: boolean;
  sharesListenerPort: boolean;
  listenerId: string | null;
  inheritedAcceptBacklog: boolean;
  acceptBacklog: number;
  iteratorRule: string | null;
}

export interface ConnectionFilter {
  direction?: Direction | null;
  port?: number | null;
  localPort?: number | null;
  remotePort?: number | null;
  minConfidence?: number | null;
  state?: TcpStateName | null;
  /** Namespace id or /run/netns name; resolved to the id by SnapshotView (unknown: InputError). */
  netns?: string | null;
  /** A peer address or CIDR (bad text: InputError naming remoteAddress). */
  remoteAddress?: string | null;
  /** Socket inodes the connection must be one of (the sockets of a process, found by the caller). */
  inodes?: ReadonlySet<number> | null;
  /** The process those inodes are of (names a kept sorted list; `inodes` does the matching). */
  process?: string | null;
}

/** A filter with its namespace resolved and its CIDR parsed. */
type ScopedFilter = ConnectionFilter & { range?: AddressRange };

/** The remoteAddress argument as a key range, or an InputError naming it. */
export function remoteRange(text: string): AddressRange {
  const r = text.length <= 64 ? addressRange(text.trim()) : null;
  if (!r) throw new InputError('remoteAddress', `remoteAddress must be an IP address or a CIDR (e.g. 10.0.0.0/8, fd00::/64), got ${JSON.stringify(text.slice(0, 64))}`);
  return r;
}

/** Sorted row lists kept per view: paging through a sorted list sorts it once. */
const SORTED_KEPT = 4;

function pushTo(m: Map<number, number[]>, k: number, v: number): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}

/**
 * One snapshot with its classification, shared by every request it serves. Indexes by port are
 * built on first use, so a filtered query costs the matching rows, not the whole table.
 */
export class SnapshotView {
  readonly ctx: Context;
  readonly verdicts: Classification;
  private byLocalPort: Map<number, number[]> | null = null;
  private byRemotePort: Map<number, number[]> | null = null;
  private listenerList: Socket[] | null = null;
  private remoteKeys: (Buffer | null)[] | null = null;
  private localKeys: (Buffer | null)[] | null = null;
  private sorted = new Map<string, number[]>();

  constructor(readonly snapshot: Snapshot, ctx?: Context) {
    this.ctx = ctx ?? buildContext(snapshot);
    this.verdicts = classify(snapshot, this.ctx);
  }

  /** The same, yielding to the event loop between the two long synchronous steps (requests queued meanwhile get served). */
  static async build(snapshot: Snapshot): Promise<SnapshotView> {
    const ctx = buildContext(snapshot);
    await yieldToLoop();
    return new SnapshotView(snapshot, ctx);
  }

  get connectionCount(): number {
    return this.ctx.conns.length;
  }

  private portIndexes(): [Map<number, number[]>, Map<number, number[]>] {
    if (!this.byLocalPort || !this.byRemotePort) {
      const lp = new Map<number, number[]>();
      const rp = new Map<number, number[]>();
      this.ctx.conns.forEach((c, i) => {
        pushTo(lp, c.localPort, i);
        pushTo(rp, c.remotePort, i);
      });
      this.byLocalPort = lp;
      this.byRemotePort = rp;
    }
    return [this.byLocalPort, this.byRemotePort];
  }

  /** Candidate rows for a filter: from a port index when a port is given, else null (every row). */
  private candidates(f: ConnectionFilter): readonly number[] | null {
    const port = f.port ?? null;
    if (port === null && f.localPort == null && f.remotePort == null) return null;
    const [lp, rp] = this.portIndexes();
    if (f.localPort != null) return lp.get(f.localPort) ?? [];
    if (f.remotePort != null) return rp.get(f.remotePort) ?? [];
    const local = lp.get(port!) ?? [];
    // A connection whose two ports are equal is in both lists: take it from the local one only.
    const remote = (rp.get(port!) ?? []).filter((i) => this.ctx.conns[i].localPort !== port);
    return [...local, ...remote].sort((a, b) => a - b);
  }

  /** The filter with `netns` resolved from a name to the namespace id, and its CIDR parsed. */
  private scoped(f: ConnectionFilter): ScopedFilter {
    const out: ScopedFilter = f.netns == null ? { ...f } : { ...f, netns: netnsIdFor(this.snapshot, f.netns) };
    if (f.remoteAddress != null) out.range = remoteRange(f.remoteAddress);
    return out;
  }

  private remoteKey(i: number): Buffer | null {
    this.remoteKeys ??= this.ctx.conns.map((c) => addressKey(c.remoteAddress));
    return this.remoteKeys[i];
  }

  private localKey(i: number): Buffer | null {
    this.localKeys ??= this.ctx.conns.map((c) => addressKey(c.localAddress));
    return this.localKeys[i];
  }

  matches(i: number, f: ScopedFilter): boolean {
    const c = this.ctx.conns[i];
    const v = this.verdicts;
    if (f.inodes != null && !f.inodes.has(c.inode)) return false;
    if (f.range) {
      const k = this.remoteKey(i);
      if (!k || k.compare(f.range.lo) < 0 || k.compare(f.range.hi) > 0) return false;
    }
    if (f.netns != null && (c.netns ?? this.snapshot.host.netns) !== f.netns) return false;
    if (f.port != null && c.localPort !== f.port && c.remotePort !== f.port) return false;
    if (f.localPort != null && c.localPort !== f.localPort) return false;
    if (f.remotePort != null && c.remotePort !== f.remotePort) return false;
    if (f.state != null && c.state !== f.state) return false;
    if (f.direction != null && v.direction(i) !== f.direction) return false;
    if (f.minConfidence != null && v.confidence(i) < f.minConfidence) return false;
    return true;
  }

  connections(filter: ConnectionFilter, limit: number, offset: number, order?: ConnectionOrdering | null): ConnectionRecord[] {
    const f = this.scoped(filter);
    const out: ConnectionRecord[] = [];
    if (limit === 0) return out;
    if (order) {
      for (const i of this.sortedRows(f, order).slice(offset, offset + limit)) out.push(connectionRecord(this.ctx.conns[i], i));
      return out;
    }
    const rows = this.candidates(f);
    const n = rows === null ? this.ctx.conns.length : rows.length;
    // No condition at all (a whole-table page): the rows from offset on, with nothing to skip
    // over (a 100k-row list asked page by page had scanned 5M rows to find its offsets).
    if (rows === null && isEmpty(f)) {
      for (let i = offset; i < Math.min(n, offset + limit); i++) out.push(connectionRecord(this.ctx.conns[i], i));
      return out;
    }
    let skipped = 0;
    for (let k = 0; k < n; k++) {
      const i = rows === null ? k : rows[k];
      if (!this.matches(i, f)) continue;
      if (skipped < offset) {
        skipped++;
        continue;
      }
      out.push(connectionRecord(this.ctx.conns[i], i));
      if (out.length >= limit) break;
    }
    return out;
  }

  /** The rows matching `f` in the order asked, ties in snapshot order; the last few lists are kept. */
  private sortedRows(f: ScopedFilter, order: ConnectionOrdering): number[] {
    const key = JSON.stringify([order.by, order.descending === true, f.direction, f.port, f.localPort, f.remotePort, f.minConfidence, f.state, f.netns, f.remoteAddress,
      f.inodes ? [f.process ?? null, f.inodes.size] : null]);
    const kept = this.sorted.get(key);
    if (kept) return kept;
    const rows: number[] = [];
    const cand = this.candidates(f);
    const n = cand === null ? this.ctx.conns.length : cand.length;
    for (let k = 0; k < n; k++) {
      const i = cand === null ? k : cand[k];
      if (this.matches(i, f)) rows.push(i);
    }
    const cmp = orderComparator(order.by, this.ctx.conns, this.verdicts, this.snapshot.host.netns, (i) => this.localKey(i), (i) => this.remoteKey(i));
    const sign = order.descending === true ? -1 : 1;
    rows.sort((a, b) => sign * cmp(a, b) || a - b);
    if (this.sorted.size >= SORTED_KEPT) this.sorted.delete(this.sorted.keys().next().value!);
    this.sorted.set(key, rows);
    return rows;
  }

  count(filter: ConnectionFilter): number {
    const f = this.scoped(filter);
    const cand = this.candidates(f);
    if (cand !== null) return cand.filter((i) => this.matches(i, f)).length;
    let n = 0;
    for (let i = 0; i < this.ctx.conns.length; i++) if (this.matches(i, f)) n++;
    return n;
  }

  connection(id: string): ConnectionRecord | null {
    const i = this.verdicts.indexOf(id);
    return i < 0 ? null : connectionRecord(this.ctx.conns[i], i);
  }

  verdictOf(c: ConnectionRecord): Verdict {
    return this.verdicts.verdictAt(c.index);
  }

  verdictByTuple(la: string, lp: number, ra: string, rp: number): Verdict | null {
    const s = findByTuple(this.ctx, la, lp, ra, rp);
    return s ? (this.verdicts.get(s.id) ?? null) : null;
  }

  peerOf(c: ConnectionRecord): ConnectionRecord | null {
    const p = findPeer(this.ctx, c.socket);
    return p ? this.connection(p.id) : null;
  }

  listenerOf(c: ConnectionRecord): ListenerRecord | null {
    const l = findListener(this.ctx, c.socket);
    return l ? listenerRecord(l) : null;
  }

  listeners(port?: number | null, netns?: string | null): ListenerRecord[] {
    this.listenerList ??= this.snapshot.sockets.filter((s) => s.state === 'LISTEN');
    const list = port == null ? this.listenerList : (this.ctx.listenersByPort.get(port) ?? []);
    const ns = netnsIdFor(this.snapshot, netns);
    if (ns === null) return list.map(listenerRecord);
    return list.filter((s) => (s.netns ?? this.snapshot.host.netns) === ns).map(listenerRecord);
  }

  /** Connections a listener owns (children of it, by endpoint), filtered. */
  listenerConnections(l: ListenerRecord, f: ConnectionFilter): ConnectionRecord[] {
    const out: ConnectionRecord[] = [];
    const [lp] = this.portIndexes();
    for (const i of lp.get(l.local.port) ?? []) {
      const c = this.ctx.conns[i];
      if (findListener(this.ctx, c) !== l.socket || !this.matches(i, f)) continue;
      out.push(connectionRecord(c, i));
    }
    return out;
  }

  host(): {
    source: SourceName; fallbackReason: string | null; collectedAt: string; ephemeralPortRange: { low: number; high: number };
    reservedPorts: { low: number; high: number }[]; netns: string | null; socketCount: number;
    kernelEvidence: { available: boolean; code: string | null; reason: string | null; tracepoint: boolean };
  } {
    const s = this.snapshot;
    return {
      source: s.source,
      fallbackReason: s.fallbackReason,
      collectedAt: new Date(s.collectedAt).toISOString(),
      ephemeralPortRange: s.host.ephemeralPortRange ?? { low: 0, high: 0 },
      reservedPorts: s.host.reservedPorts,
      netns: s.host.netns,
      kernelEvidence: s.kernel
        ? { available: s.kernel.available, code: s.kernel.code, reason: s.kernel.reason, tracepoint: s.kernel.tracepoint }
        : { available: false, code: 'NOT_READ', reason: 'this snapshot was taken without the kernel source', tracepoint: false },
      socketCount: s.sockets.length,
    };
  }

  /** What the kernel says about a connection, or null when the kernel source has no record of it. */
  kernelFacts(c: ConnectionRecord): KernelFactsRecord | null {
    const k = this.snapshot.kernel;
    const cookie = c.socket.cookie;
    if (!k || !k.available || cookie === null) return null;
    const rec = k.records.get(cookie);
    const birth = k.births.get(cookie) ?? null;
    if (!rec && !birth) return null;
    const facts = rec ? k.records.facts(cookie) : undefined;
    const kd = facts === undefined ? null : directionOfFacts(facts);
    const finding = kernelFinding(this.ctx, c.socket);
    return {
      direction: finding?.direction ?? 'UNKNOWN',
      rule: finding?.rule ?? null,
      bornAs: birth ? birthDirection(birth.code) : null,
      birthTransition: birth?.transition ?? null,
      portChosenByConnect: rec?.connectChosePort ?? false,
      explicitPortBind: rec?.explicitPortBind ?? false,
      explicitAddressBind: rec?.explicitAddressBind ?? false,
      sharesListenerPort: rec?.sharesListenerPort ?? false,
      listenerId: rec?.sharedListenerCookie ?? rec?.listenerCookie ?? null,
      inheritedAcceptBacklog: rec?.acceptBacklogInherited ?? false,
      acceptBacklog: rec?.maxAckBacklog ?? 0,
      iteratorRule: kd?.rule ?? null,
    };
  }

  summary(minConfidence: number, netns?: string | null): SummaryCounts {
    const s: SummaryCounts = { total: 0, inbound: 0, outbound: 0, unknown: 0, byState: [] };
    // The same count per TCP state, in the pass that makes the totals: one query answers a
    // dashboard's direction x state table (the console asked 30 aliased counts for it).
    const byState = new Map<string, StateCounts>();
    const v = this.verdicts;
    const ns = netnsIdFor(this.snapshot, netns);
    for (let i = 0; i < this.ctx.conns.length; i++) {
      const c = this.ctx.conns[i];
      if (ns !== null && (c.netns ?? this.snapshot.host.netns) !== ns) continue;
      let st = byState.get(c.state);
      if (!st) byState.set(c.state, (st = { state: c.state, total: 0, inbound: 0, outbound: 0, unknown: 0 }));
      s.total++;
      st.total++;
      const d = v.direction(i);
      if (d === 'UNKNOWN' || v.confidence(i) < minConfidence) {
        s.unknown++;
        st.unknown++;
      } else if (d === 'INBOUND') {
        s.inbound++;
        st.inbound++;
      } else {
        s.outbound++;
        st.outbound++;
      }
    }
    s.byState = TCP_STATE_NAMES.flatMap((name) => byState.get(name) ?? []);
    return s;
  }
}

/** Connections one way or the other, in all and per TCP state (states without any left out). */
export interface StateCounts {
  state: TcpStateName;
  total: number;
  inbound: number;
  outbound: number;
  unknown: number;
}
export interface SummaryCounts extends Omit<StateCounts, 'state'> {
  byState: StateCounts[];
}

export function yieldToLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** A filter that every connection passes. */
function isEmpty(f: ScopedFilter): boolean {
  return f.inodes == null && f.range == null && f.netns == null && f.port == null && f.localPort == null && f.remotePort == null &&
    f.state == null && f.direction == null && f.minConfidence == null;
}
