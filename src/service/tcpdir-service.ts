import { collectSnapshot, ProcessResolver } from '../collectors';
import type { ProcessMap, ProcessRef, Snapshot, SourceName } from '../model';
import { HistoryKeeper } from './history-keeper';
import type { ConnectionRecord, ListenerRecord } from './records';
import { SnapshotView } from './view';

export interface ServiceOptions {
  /** auto: netlink, falling back to procfs. */
  source?: 'auto' | SourceName;
  /** A snapshot serves every request within this many ms; 0 = a fresh one per request. */
  maxAgeMs?: number;
  procRoot?: string;
  /** Replaces the collector (tests use fixture snapshots). */
  collect?: () => Promise<Snapshot>;
  /** Replaces process attribution (tests). */
  resolveProcesses?: (inodes: number[]) => Promise<ProcessMap>;
  /** Remember listeners and handshakes across snapshots (default true). */
  history?: boolean;
}

export interface SnapshotEvent {
  view: SnapshotView;
  /** Collection plus classification, ms. */
  durationMs: number;
}

/**
 * Owns the snapshot cache. One snapshot (with its classification) serves all requests within
 * maxAgeMs, and concurrent requests share one in-flight collection.
 */
export class TcpdirService {
  private cached: { view: SnapshotView; at: number } | null = null;
  private inflight: Promise<SnapshotView> | null = null;
  private readonly history: HistoryKeeper | null;
  private readonly processCache = new WeakMap<SnapshotView, Promise<ProcessMap>>();
  private readonly resolver: ProcessResolver;
  private readonly listeners: Array<(e: SnapshotEvent) => void> = [];
  readonly maxAgeMs: number;

  constructor(private readonly opts: ServiceOptions = {}) {
    this.maxAgeMs = opts.maxAgeMs ?? 1000;
    this.history = opts.history === false ? null : new HistoryKeeper();
    this.resolver = new ProcessResolver(opts.procRoot ?? '/proc');
  }

  onSnapshot(fn: (e: SnapshotEvent) => void): void {
    this.listeners.push(fn);
  }

  /** The current view: cached while fresh, else shared with any collection already running. */
  current(): Promise<SnapshotView> {
    if (this.cached && Date.now() - this.cached.at < this.maxAgeMs) return Promise.resolve(this.cached.view);
    this.inflight ??= this.refresh().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async refresh(): Promise<SnapshotView> {
    const t0 = performance.now();
    const snap = this.opts.collect ? await this.opts.collect() : await collectSnapshot({ source: this.opts.source ?? 'auto', procRoot: this.opts.procRoot });
    if (this.history) snap.history = this.history.observe(snap);
    const view = new SnapshotView(snap);
    this.cached = { view, at: Date.now() };
    const durationMs = performance.now() - t0;
    for (const fn of this.listeners) fn({ view, durationMs });
    return view;
  }

  /** Owners of the view's sockets, resolved once per view and only when a query asks. */
  processesOf(view: SnapshotView): Promise<ProcessMap> {
    let p = this.processCache.get(view);
    if (!p) {
      const inodes: number[] = [];
      for (const s of view.snapshot.sockets) if (s.inode !== 0) inodes.push(s.inode);
      p = this.opts.resolveProcesses ? this.opts.resolveProcesses(inodes) : this.resolver.resolve(inodes);
      this.processCache.set(view, p);
    }
    return p;
  }

  async processesFor(view: SnapshotView, rec: ConnectionRecord | ListenerRecord): Promise<readonly ProcessRef[]> {
    if (rec.socket.inode === 0) return [];
    return (await this.processesOf(view)).get(rec.socket.inode) ?? [];
  }
}
