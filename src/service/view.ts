import { buildContext, classify, findByTuple, findListener, findPeer, type Classification, type Context } from '../classifier';
import type { Direction, Snapshot, Socket, TcpStateName, Verdict } from '../model';
import { connectionRecord, listenerRecord, type ConnectionRecord, type ListenerRecord } from './records';

export interface ConnectionFilter {
  direction?: Direction | null;
  port?: number | null;
  localPort?: number | null;
  remotePort?: number | null;
  minConfidence?: number | null;
  state?: TcpStateName | null;
}

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

  /** Candidate rows for a filter: from a port index when a port is given, else every row. */
  private candidates(f: ConnectionFilter): Iterable<number> {
    const port = f.port ?? null;
    if (port === null && f.localPort == null && f.remotePort == null) return range(this.ctx.conns.length);
    const [lp, rp] = this.portIndexes();
    if (f.localPort != null) return lp.get(f.localPort) ?? [];
    if (f.remotePort != null) return rp.get(f.remotePort) ?? [];
    const local = lp.get(port!) ?? [];
    // A connection whose two ports are equal is in both lists: take it from the local one only.
    const remote = (rp.get(port!) ?? []).filter((i) => this.ctx.conns[i].localPort !== port);
    return [...local, ...remote].sort((a, b) => a - b);
  }

  matches(i: number, f: ConnectionFilter): boolean {
    const c = this.ctx.conns[i];
    const v = this.verdicts;
    if (f.port != null && c.localPort !== f.port && c.remotePort !== f.port) return false;
    if (f.localPort != null && c.localPort !== f.localPort) return false;
    if (f.remotePort != null && c.remotePort !== f.remotePort) return false;
    if (f.state != null && c.state !== f.state) return false;
    if (f.direction != null && v.direction(i) !== f.direction) return false;
    if (f.minConfidence != null && v.confidence(i) < f.minConfidence) return false;
    return true;
  }

  connections(f: ConnectionFilter, limit: number, offset: number): ConnectionRecord[] {
    const out: ConnectionRecord[] = [];
    if (limit === 0) return out;
    let skipped = 0;
    for (const i of this.candidates(f)) {
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

  count(f: ConnectionFilter): number {
    let n = 0;
    for (const i of this.candidates(f)) if (this.matches(i, f)) n++;
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

  listeners(port?: number | null): ListenerRecord[] {
    this.listenerList ??= this.snapshot.sockets.filter((s) => s.state === 'LISTEN');
    const list = port == null ? this.listenerList : (this.ctx.listenersByPort.get(port) ?? []);
    return list.map(listenerRecord);
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
    source: string; fallbackReason: string | null; collectedAt: string; ephemeralPortRange: { low: number; high: number };
    reservedPorts: { low: number; high: number }[]; netns: string | null; socketCount: number;
  } {
    const s = this.snapshot;
    return {
      source: s.source,
      fallbackReason: s.fallbackReason,
      collectedAt: new Date(s.collectedAt).toISOString(),
      ephemeralPortRange: s.host.ephemeralPortRange ?? { low: 0, high: 0 },
      reservedPorts: s.host.reservedPorts,
      netns: s.host.netns,
      socketCount: s.sockets.length,
    };
  }

  summary(minConfidence: number): { total: number; inbound: number; outbound: number; unknown: number } {
    const s = { total: 0, inbound: 0, outbound: 0, unknown: 0 };
    const v = this.verdicts;
    for (let i = 0; i < this.ctx.conns.length; i++) {
      s.total++;
      const d = v.direction(i);
      if (d === 'UNKNOWN' || v.confidence(i) < minConfidence) s.unknown++;
      else if (d === 'INBOUND') s.inbound++;
      else s.outbound++;
    }
    return s;
  }
}

export function yieldToLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

function* range(n: number): Iterable<number> {
  for (let i = 0; i < n; i++) yield i;
}
